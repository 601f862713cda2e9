"""Fixed-window counters shared by every worker through the database (QR creation, failed client logins).

One atomic ``UPDATE … SET count = count + 1 WHERE count < limit`` per hit: no read-modify-write race.

A window is the minute number (``epoch // 60``), except for connection keys ending in ``:day``, whose window is
WeChat's quota day (Beijing time, ``quota_day``); ``stale_counters`` relies on that to let the retention purge
(SPEC §15) delete counters whose window ended.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import ColumnElement, Integer, String, and_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.addresses import unmapped
from idp_bridge.extensions import db


class RateCounter(db.Model):  # type: ignore[name-defined]
    """The count of one key in its current window (older windows are simply overwritten)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=0)


GUESS_PREFIX = "codeguess:"
GUESS_WINDOW_SECONDS = 600
IPV6_CLIENT_PREFIX = 64
BEIJING_OFFSET_SECONDS = 8 * 3600


def quota_day(now: int) -> int:
    """WeChat's API quotas reset at midnight Beijing time (UTC+8)."""
    return (now + BEIJING_OFFSET_SECONDS) // 86400


def stale_counters(now: int) -> ColumnElement[bool]:
    """Counters whose window ended more than one window ago (one window of slack for clock skew).

    Day windows are recognised by the ``conn:`` prefix, which only our code writes (``login.limits``): a suffix
    alone would not do, since ``authfail:<client_id>`` and proxied addresses carry text a client chooses, and a
    key made to look like a day counter would otherwise never be purged.
    """
    day_key = RateCounter.key.like("conn:%:day")
    # Sign-in code guesses count per 10 minutes (SPEC §13); only ``login.codes`` writes this prefix.
    guess_key = RateCounter.key.like(f"{GUESS_PREFIX}%")
    return or_(and_(day_key, RateCounter.window < quota_day(now) - 1),
               and_(guess_key, RateCounter.window < now // GUESS_WINDOW_SECONDS - 1),
               and_(~day_key, ~guess_key, RateCounter.window < now // 60 - 1))


def client_address_key(address: str | None) -> str:
    """The counter key of one client address for per-client limits.

    IPv4 counts per address. IPv6 counts per /64: a subscriber is normally given at least a /64 (RFC 6177 §3,
    RFC 7934 §6) and may use any address in it (SLAAC privacy addresses, RFC 8981), so a per-address key would
    let one client rotate through 2**64 keys. An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, how a dual-stack
    socket reports an IPv4 peer) is the IPv4 client it carries. Anything unparsable keeps a bounded raw form.
    """
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "other:" + address[:48]
    ip = unmapped(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


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
