"""Database connection pool settings and the stale-connection check.

SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout, that is on every request — two of the
SSO path's few round trips (SPEC §16). A connection that was just checked in is as alive as it was then, so
here a connection is pinged only when it has been idle for longer than ``PING_AFTER_SECONDS`` (a database
restart or a proxy's idle timeout is what kills connections, and both act on idle ones). A connection that
dies in use anyway is invalidated by SQLAlchemy together with the rest of the pool, as with pre-ping.

The pool holds ``db_pool_size`` connections per worker process and may open as many again under a burst,
so that a worker's request threads rarely wait for one and rarely open a new PostgreSQL backend (a fork on
the server each time).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

PING_AFTER_SECONDS = 10.0
_IDLE_SINCE = "idpb_idle_since"


def engine_options(database_url: str, pool_size: int) -> dict[str, Any]:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for ``database_url``: sized pool for PostgreSQL, defaults for SQLite."""
    if database_url.startswith("postgresql"):
        return {"pool_size": pool_size, "max_overflow": pool_size, "pool_recycle": 3600}
    return {}


@event.listens_for(Pool, "checkin")
def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_IDLE_SINCE] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle; a dead one is replaced by the pool (``DisconnectionError``)."""
    if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_AFTER_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the ping's implicit transaction must not be handed to the borrower
    except Exception as exc:
        raise DisconnectionError("stale pooled connection") from exc
