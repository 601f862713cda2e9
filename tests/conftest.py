"""Layered fixtures through the real factory (DESIGN example 10): database → app → live server → CLI.

Every test that takes ``app`` (or anything built on it) runs twice: on SQLite and on PostgreSQL. Each
test session creates its own throw-away PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import create_engine, text

from idp_bridge import create_app
from idp_bridge.extensions import db
from tests.support.live import LiveServer

PG_ADMIN_URL = os.environ.get("IDPB_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_SECRET_KEY = "test-secret-key-" + "k" * 32
BACKENDS = [b for b in os.environ.get("IDPB_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@contextmanager
def throwaway_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration of the block; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clean_env() -> None:
    """Tests configure the app explicitly; a developer's IDP_BRIDGE_* must not leak in."""
    for key in list(os.environ):
        if key.startswith("IDP_BRIDGE_"):
            del os.environ[key]


_clean_env()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session: a SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
        return
    with throwaway_pg_database("idp_test") as url:
        yield url


@pytest.fixture(scope="session")
def _schema(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Create the tables once per backend; tests then only empty them."""
    app = create_app(
        {"database_url": database_url, "instance_dir": tmp_path_factory.mktemp("schema"),
         "secret_key": TEST_SECRET_KEY}
    )
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return database_url


def _empty_all_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(autouse=True)
def _fresh_stream_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts like a fresh worker process: no status-stream slots held by an earlier test's
    streams (a stream whose client left keeps its slot until its next write, up to 2 s)."""
    from idp_bridge.login.streams import Slots

    monkeypatch.setattr("idp_bridge.login.views.SLOTS", Slots())


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """A loopback HTTP server; the ``app`` fixture attaches itself so its issuer has the real port."""
    live = LiveServer()
    yield live
    live.stop()


@pytest.fixture
def app_config(_schema: str, tmp_path: Path, server: LiveServer) -> dict[str, Any]:
    """Settings for the app under test; override this fixture (or extend the dict) to change them."""
    return {
        "database_url": _schema,
        "instance_dir": tmp_path / "instance",
        "issuer": server.url,
        "secret_key": TEST_SECRET_KEY,
    }


@pytest.fixture
def app(app_config: dict[str, Any], server: LiveServer) -> Iterator[Flask]:
    """The real app, built by the factory, on a clean database, reachable at ``server.url``."""
    application = create_app(app_config)
    application.config["TESTING"] = True
    server.attach(application)
    yield application
    with application.app_context():
        db.session.remove()
        _empty_all_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_url(app: Flask, server: LiveServer) -> str:
    """Start serving ``app`` over real HTTP and return its base URL (= the issuer)."""
    server.start()
    return server.url


@pytest.fixture
def cli_run(app: Flask) -> Any:
    """Run ``idp-bridge ARGS…`` against the test app; returns click's Result."""
    from idp_bridge.cli import cli

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app), input=input)

    return run


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, completely empty database on the same backend (for migration and start-up tests)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with throwaway_pg_database("idp_empty") as url:
        yield url


SECRET_PATTERNS = [
    re.compile(r"(?<![A-Za-z_])(access_token|refresh_token|id_token|client_secret|code|echostr)=(?!\*\*\*)[^&\s]{12,}"),
    re.compile(r'"(access_token|refresh_token|id_token|client_secret|app_secret)"\s*:\s*"[^"]{12,}"'),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}"),  # a JWT
]


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage() + ("\n" + self.format(record) if record.exc_info else ""))
        except Exception:  # a broken record must not break the test run
            self.messages.append(f"<unformattable record from {record.name}>")


@pytest.fixture(scope="session", autouse=True)
def _no_secrets_in_application_logs() -> Iterator[None]:
    """Across the whole test run, nothing idp-bridge logs may contain a code, token, secret or JWT (SPEC §11)."""
    collector = _LogCollector()
    logger = logging.getLogger("idp_bridge")
    logger.addHandler(collector)
    yield
    logger.removeHandler(collector)
    leaks = [m for m in collector.messages if any(p.search(m) for p in SECRET_PATTERNS)]
    assert not leaks, f"secrets in application logs: {leaks[:3]}"
