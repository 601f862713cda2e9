"""Alembic environment: runs inside the Flask app so the URL and metadata come from idp-bridge itself."""

from __future__ import annotations

from typing import Any

from alembic import context
from flask import current_app

from idp_bridge.dbtypes import UTCDateTime

config = context.config
target_db = current_app.extensions["migrate"].db
target_metadata = target_db.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as plain SQLAlchemy types so migrations do not import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    options: dict[str, Any] = {"render_as_batch": True, "compare_type": True, "render_item": render_item}
    options.update(current_app.extensions["migrate"].configure_args)
    options.update(kwargs)
    context.configure(target_metadata=target_metadata, **options)


def run_migrations_offline() -> None:
    _configure(url=str(target_db.engine.url), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with target_db.engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
