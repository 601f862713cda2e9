"""WeChat API errors per connection and errcode (SPEC §12 overview: "WeChat API errors by errcode in the last
hour"), counted in the database so that every worker and every instance adds to, and the console reads, the same
figures (a process-local Prometheus counter, ``metrics.py``, cannot answer "which connection, this last hour").

One row per (UTC minute, connection, errcode), incremented by one ``INSERT … ON CONFLICT DO UPDATE``: a failing
call costs one statement and a successful call (``errcode`` 0) costs none. Minutes older than
``RETENTION`` are deleted by the retention purge. ``errcode`` is WeChat's (全局返回码), or -2 when no usable
answer came back (timeout, not JSON: ``client.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func

from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.upsert import conflict_insert
from idp_bridge.wechat.models import ApiErrorCount

log = logging.getLogger(__name__)
RETENTION = timedelta(days=1)
WINDOW = timedelta(hours=1)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def record(connection_id: int, errcode: int, at: datetime | None = None) -> None:
    """Count one failed call (``errcode`` ≠ 0; 0 is ignored). Never raises: the caller is on a login path and
    the count is advisory. Committed at once, like the WeChat token cache around the same calls."""
    if errcode == 0:
        return
    statement = conflict_insert(ApiErrorCount).values(minute=_minute(at or utcnow()), connection_id=connection_id,
                                                      errcode=errcode, count=1)
    try:
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["minute", "connection_id", "errcode"], set_={"count": ApiErrorCount.count + 1}))
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.warning("could not count a WeChat API error (%s)", type(exc).__name__)


@dataclass(frozen=True)
class ErrorCount:
    connection_id: int
    errcode: int
    count: int


def last_hour(now: datetime | None = None) -> list[ErrorCount]:
    """Failed calls per connection and errcode over the last ``WINDOW`` (whole minutes: the current minute and the
    59 before it), most frequent first. Reads at most 60 rows per (connection, errcode)."""
    since = _minute(now or utcnow()) - WINDOW + timedelta(minutes=1)
    total = func.sum(ApiErrorCount.count)
    rows = db.session.execute(
        db.select(ApiErrorCount.connection_id, ApiErrorCount.errcode, total)
        .where(ApiErrorCount.minute >= since)
        .group_by(ApiErrorCount.connection_id, ApiErrorCount.errcode)
        .order_by(total.desc(), ApiErrorCount.errcode)).all()
    return [ErrorCount(int(c), int(e), int(n)) for c, e, n in rows]
