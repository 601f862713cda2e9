"""Production serving with gunicorn, embedded so that ``idp-bridge serve`` is the whole command.

Worker model: ``gthread``. Waiting login pages hold one server-sent-events request each for up to 25 s; a
thread per waiting page costs little memory (no database connection is held while waiting), keeps psycopg
and SQLAlchemy in their ordinary blocking mode (gevent would need monkey-patching the database driver), and
lets N workers × T threads pages wait at once. The app is built in each worker after the fork (no preload),
so database pools and signing-key caches are never shared across processes.
"""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from idp_bridge.extensions import db, migrate
from idp_bridge.logging_setup import TextFormatter
from idp_bridge.login import notify


class NotMigrated(RuntimeError):
    """The database schema is not at the latest migration."""


def check_migrated(app: Flask) -> None:
    """Refuse to serve an un-migrated database: clearer than failing on the first query."""
    with app.app_context():
        config = migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        db.engine.dispose()
    if current != heads:
        raise NotMigrated(
            f"the database is at revision {sorted(current) or 'none'} but this version needs {sorted(heads)}: "
            "run `idp-bridge db upgrade` first")


class StreamingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that also ends open status streams at once on shutdown, so a graceful stop
    does not wait for them; the pages reconnect to a live worker by themselves."""

    def init_process(self) -> None:
        """Cap concurrent status streams below this worker's thread count (SPEC §15) before serving."""
        from idp_bridge.login.streams import SLOTS

        SLOTS.configure_for_threads(int(self.cfg.threads))
        super().init_process()

    def handle_exit(self, sig: int, frame: Any) -> None:
        notify.SHUTDOWN.set()
        notify.HUB.bump()
        super().handle_exit(sig, frame)


class EscapingLogger(Logger):
    """gunicorn's logger whose access and error lines cannot be forged (SPEC §15; CWE-117).

    The access log's ``%(U)s`` is the *decoded* path, so ``/x%0d%0a<fake line>`` would otherwise write a
    line of the client's choosing. Every gunicorn handler gets the application's escaping formatter (same
    format string), and the path is shown as the UTF-8 text it encodes rather than PEP 3333's latin-1 view.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                current = handler.formatter
                handler.setFormatter(TextFormatter(current._fmt if current else "%(message)s",
                                                   current.datefmt if current else None))

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = environ.get("PATH_INFO")
        if isinstance(path, str):
            atoms["U"] = path.encode("latin-1", "replace").decode("utf-8", "replace")
        return atoms


class GunicornApp(BaseApplication):
    """gunicorn driven from Python; ``factory`` builds the app inside each worker."""

    def __init__(self, factory: Any, options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def gunicorn_options(bind: str, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "idp_bridge.serving.StreamingThreadWorker",
        "threads": threads,
        "timeout": 60,  # > the 25 s status stream
        "graceful_timeout": 30,
        "keepalive": 5,
        "preload_app": False,
        "accesslog": "-",
        # the path only (%(U)s): query strings can carry codes, echostr or other one-time values
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
        "logger_class": "idp_bridge.serving.EscapingLogger",  # escapes control characters in every line
        "errorlog": "-",
        "max_requests": 0,
    }
