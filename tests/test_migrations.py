"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from idp_bridge import create_app
from idp_bridge.extensions import db
from tests.conftest import TEST_SECRET_KEY


def _app(url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return create_app({"database_url": url, "instance_dir": tmp_path / "inst", "secret_key": TEST_SECRET_KEY})


def test_upgrade_builds_the_model_schema_and_downgrade_removes_it(empty_database_url: str, tmp_path: Path) -> None:
    app = _app(empty_database_url, tmp_path)
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, db.metadata)
        assert diffs == [], f"models and migrations disagree: {diffs}"
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        flask_migrate.downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
