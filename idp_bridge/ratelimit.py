"""Fixed-window counters shared by every worker through the database (QR creation, failed client logins).

One atomic ``UPDATE … SET count = count + 1 WHERE count < limit`` per hit: no read-modify-write race.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.extensions import db


class RateCounter(db.Model):  # type: ignore[name-defined]
    """The count of one key in its current window (older windows are simply overwritten)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=0)


def hit(key: str, window: int, limit: int) -> int | None:
    """Count one hit; returns the new count, or None when the limit is already reached in this window.

    Every step is one atomic statement, and a step that loses a race is retried: concurrent hits never
    produce a false refusal (an earlier version could, under a burst of first hits).
    """
    key = key[:96]
    for _ in range(20):
        counted = db.session.execute(
            db.update(RateCounter).where(RateCounter.key == key, RateCounter.window == window,
                                         RateCounter.count < limit)
            .values(count=RateCounter.count + 1))
        if counted.rowcount == 1:  # type: ignore[attr-defined]
            db.session.commit()
            row = db.session.get(RateCounter, key, populate_existing=True)
            return row.count if row else 1
        reset = db.session.execute(
            db.update(RateCounter).where(RateCounter.key == key, RateCounter.window != window)
            .values(window=window, count=1))
        if reset.rowcount == 1:  # type: ignore[attr-defined]
            db.session.commit()
            return 1
        db.session.commit()
        row = db.session.get(RateCounter, key, populate_existing=True)
        if row is not None:
            if row.window == window and row.count >= limit:
                return None
            continue  # another worker moved the window between our statements: count again
        try:
            db.session.add(RateCounter(key=key, window=window, count=1))
            db.session.commit()
            return 1
        except IntegrityError:
            db.session.rollback()  # another worker created it: count again
    return None


def count(key: str, window: int) -> int:
    row = db.session.get(RateCounter, key[:96], populate_existing=True)
    return row.count if row is not None and row.window == window else 0
