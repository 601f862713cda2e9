"""The database schema's migrations: Flask-Migrate (Alembic) for the command line, and the check ``serve`` makes.

Alembic, with Mako and Pygments behind it, is about 11 MB of a process's memory. ``serve``'s process becomes
gunicorn's master, and every worker starts as a copy of it (resident pages included), so neither imports it:
serving apps are built without the ``db`` commands, and the check runs in a short-lived child process.
"""

from __future__ import annotations

import os

from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.resources import migrations_dir

_FAILED = 3  # the child's exit status when it could not check (the database unreachable, say)


class NotMigrated(RuntimeError):
    """The database schema is not at the latest migration, or could not be checked."""


def init_app(app: Flask) -> None:
    """Register Flask-Migrate (the ``db`` command group; batch mode so that SQLite can alter tables)."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(migrations_dir()), render_as_batch=True)


def _mismatch(app: Flask) -> str | None:
    """What is wrong with the database's revision, or None when it is at the migrations' head."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with app.app_context():
        db.engine.dispose(close=False)  # connections inherited through the fork belong to the parent
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        db.engine.dispose()
    if current == heads:
        return None
    return (f"the database is at revision {sorted(current) or 'none'} but this version needs {sorted(heads)}: "
            "run `idp-bridge db upgrade` first")


def check_migrated(app: Flask) -> None:
    """Refuse to serve an un-migrated database (clearer than failing on the first query). Alembic runs in a
    forked child, which reports through a pipe, so that this process never loads it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: check, report, and leave without running the parent's exit handlers
        status = _FAILED
        try:
            os.close(read)
            try:
                message, status = _mismatch(app) or "", 0
            except BaseException as exc:
                message = f"could not check the database's schema: {type(exc).__name__}: {exc}"
            os.write(write, message.encode("utf-8", "replace")[:60_000])  # within a pipe's buffer: no wait
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or message:
        raise NotMigrated(message or "could not check the database's schema")
