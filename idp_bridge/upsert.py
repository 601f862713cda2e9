"""``INSERT … ON CONFLICT`` for the two databases we run on: both dialects spell it the same way in SQLAlchemy,
but each through its own ``insert`` construct."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from idp_bridge.extensions import db


def conflict_insert(model: Any) -> Any:
    """An ``insert(model)`` of the current session's dialect, offering ``on_conflict_do_nothing``/``_do_update``
    and ``excluded`` (PostgreSQL, and SQLite ≥ 3.24)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model)
