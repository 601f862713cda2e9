"""What the callback last saw per connection (SPEC §12 connection screen and overview: "the last event received,
signature failures"), so an operator can tell at a glance whether WeChat is talking to us.

Writes are throttled in each process (an accepted push at most every 30 s, a refusal at most every second per
connection), so the callback's hot path gains no statement on most pushes and a flood of forged pushes cannot
turn into a flood of writes. The figures are therefore accurate to those intervals.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.upsert import conflict_insert
from idp_bridge.wechat.models import CallbackHealth

log = logging.getLogger(__name__)
EVENT_EVERY_SECONDS = 30.0
REFUSAL_EVERY_SECONDS = 1.0
_lock = threading.Lock()
_last_write: dict[tuple[int, str], float] = {}


def _due(connection_id: int, kind: str, every: float) -> bool:
    now = time.monotonic()
    with _lock:
        if now - _last_write.get((connection_id, kind), -every) < every:
            return False
        _last_write[(connection_id, kind)] = now
        return True


def _upsert(connection_id: int, **values: object) -> None:
    statement = conflict_insert(CallbackHealth).values(connection_id=connection_id, **values)
    updates: dict[str, Any] = {k: statement.excluded[k] for k in values}
    if "refusals" in values:
        updates["refusals"] = CallbackHealth.refusals + 1
    db.session.execute(statement.on_conflict_do_update(index_elements=["connection_id"], set_=updates))
    db.session.commit()


def record_event(connection_id: int, kind: str) -> None:
    """A verified push was accepted (``kind``: its MsgType/Event). Never raises."""
    if _due(connection_id, "event", EVENT_EVERY_SECONDS):
        try:
            _upsert(connection_id, last_event_at=utcnow(), last_event_kind=kind[:32])
        except Exception as exc:  # health is advisory: never fail or slow a push because of it
            db.session.rollback()
            log.warning("could not record callback health (%s)", type(exc).__name__)


def record_refusal(connection_id: int, reason: str) -> None:
    """A push was refused (bad signature, stale timestamp, malformed…). ``reason`` is our own fixed text."""
    if _due(connection_id, "refusal", REFUSAL_EVERY_SECONDS):
        try:
            _upsert(connection_id, last_refusal_at=utcnow(), last_refusal_reason=reason[:64], refusals=1)
        except Exception as exc:
            db.session.rollback()
            log.warning("could not record callback health (%s)", type(exc).__name__)


@dataclass(frozen=True)
class Health:
    last_event_at: datetime | None
    last_event_kind: str | None
    last_refusal_at: datetime | None
    last_refusal_reason: str | None
    refusals: int


def of(connection_id: int) -> Health:
    row = db.session.get(CallbackHealth, connection_id)
    if row is None:
        return Health(None, None, None, None, 0)
    return Health(row.last_event_at, row.last_event_kind, row.last_refusal_at, row.last_refusal_reason,
                  row.refusals or 0)


def of_all() -> dict[int, Health]:
    """Every connection's figures in one query (the overview's table); a connection never seen is absent."""
    return {row.connection_id: Health(row.last_event_at, row.last_event_kind, row.last_refusal_at,
                                      row.last_refusal_reason, row.refusals or 0)
            for row in db.session.scalars(db.select(CallbackHealth))}


def forget_throttle() -> None:
    """Tests: make the next writes due at once (each test is a fresh process in spirit)."""
    with _lock:
        _last_write.clear()
