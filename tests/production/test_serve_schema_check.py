"""`serve` checks the schema before it starts gunicorn, without Alembic entering its own process: that process
becomes the master every worker is forked from, and Alembic (with Mako and Pygments) is ≈ 11 MB of each."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.production.conftest import CLI

KEY = "k" * 40


def _env(tmp_path: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    base.update(IDP_BRIDGE_INSTANCE_DIR=str(tmp_path / "inst"), IDP_BRIDGE_SECRET_KEY=KEY, **env)
    return base


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    answer = subprocess.run([CLI, "serve", "--bind", "127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                            env=_env(tmp_path, IDP_BRIDGE_DATABASE_URL="postgresql://postgres@127.0.0.1:9/none"))
    assert answer.returncode == 1, answer.stderr
    assert "could not check the database's schema: OperationalError" in answer.stderr
    assert "Traceback" not in answer.stderr


def test_the_check_and_a_serving_app_leave_alembic_out(tmp_path: Path) -> None:
    """In a fresh interpreter, as in ``serve``: a migrated database passes, an outdated one is refused, and
    neither the check nor the app built for serving imports Alembic or Flask-Migrate; the command line's app
    (the default) still has the ``db`` commands."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    env = _env(tmp_path, IDP_BRIDGE_DATABASE_URL=url)
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    program = textwrap.dedent("""
        import sys
        from idp_bridge.app import create_app
        from idp_bridge.schema import NotMigrated, check_migrated
        app = create_app(migrations=False)
        check_migrated(app)
        assert "db" not in app.cli.commands
        loaded = sorted(m for m in ("alembic", "flask_migrate", "mako", "pygments") if m in sys.modules)
        assert loaded == [], loaded
        with app.app_context():
            from idp_bridge.extensions import db
            with db.engine.begin() as connection:
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'a6b5f0d9c706'")
        try:
            check_migrated(app)
        except NotMigrated as exc:
            assert "['a6b5f0d9c706']" in str(exc) and "idp-bridge db upgrade" in str(exc), exc
        else:
            raise AssertionError("an outdated schema passed the check")
        assert "db" in create_app().cli.commands
        print("ok")
    """)
    answer = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0 and answer.stdout.strip() == "ok", answer.stderr
