"""A waiting page's re-read on the event loop (``login.streams.read_view`` with ``login.views._viewer``, PostgreSQL)
gives the page exactly what the threaded re-read gives it, in every state; a live session past its QR's life is
left to the threaded read, the only one that may turn it ``expired``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask

from idp_bridge import asyncdb, create_app
from idp_bridge.extensions import db
from idp_bridge.login.i18n import words
from idp_bridge.login.models import LoginSession
from idp_bridge.login.streams import SessionView, Snapshot, read_view, view_statement
from idp_bridge.login.views import _reader, _viewer
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.connections import create_connection
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.support.loops import run_on_a_loop_of_its_own

NEXT = "/login/p/complete?ls=x"


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with throwaway_pg_database("idp_quick") as url:
        app = create_app({"database_url": url, "instance_dir": tmp_path_factory.mktemp("quick"),
                          "secret_key": TEST_SECRET_KEY})
        with app.app_context():
            db.create_all()
            connection = create_connection(app.config["SECRET_KEY"], identifier="acme", display_name="ACME",
                                           app_id="wx0123456789abcdef", app_secret="0" * 32, token="Token123",
                                           encryption="plaintext")
            app.config["TEST_CONNECTION"] = connection.id
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _session(app: Flask, **columns: object) -> str:
    session_id = secrets.token_urlsafe(12)
    with app.app_context():
        values: dict[str, object] = {"qr_url": "https://mp.example/q", "expires_at": utcnow() + timedelta(minutes=5),
                                     **columns}
        db.session.add(LoginSession(id=session_id, pending_id="p", connection_id=app.config["TEST_CONNECTION"],
                                    scene=secrets.token_urlsafe(12), ticket="t", **values))
        db.session.commit()
        db.session.remove()
    return session_id


CASES = {
    "waiting": {},
    "code-only waiting": {"qr_url": ""},
    "scanned": {"state": "scanned", "openid": "oA", "version": 1},
    "succeeded": {"state": "succeeded", "openid": "oA", "user_id": 1, "version": 2, "event_at": utcnow()},
    "refused": {"state": "refused", "refusal": "blocked", "version": 2},
    "binding": {"state": "binding", "version": 2},
    "expired": {"state": "expired", "version": 3},
}


def _read_on_the_loop(app: Flask, session_id: str) -> SessionView | None:
    """``read_view`` on a pool and loop of its own, as a worker's stream reads the session."""
    pool = asyncdb.pool_for(app)
    assert pool is not None
    with app.app_context():
        sql = view_statement(db.engine.dialect)

    async def read() -> SessionView | None:
        try:
            return await read_view(pool, sql, session_id)
        finally:
            await pool.close()

    result: SessionView | None = run_on_a_loop_of_its_own(read())
    return result


def _loop_snapshot(app: Flask, session_id: str) -> Snapshot | None:
    columns = _read_on_the_loop(app, session_id)
    assert columns is not None
    return _viewer(words("en"), "ACME Shop", NEXT)(columns)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_loop_read_shows_what_the_threaded_read_shows(pg_app: Flask, case: str) -> None:
    session_id = _session(pg_app, **CASES[case])
    threaded = _reader(pg_app, session_id, words("en"), "ACME Shop", NEXT)()
    assert _loop_snapshot(pg_app, session_id) == threaded


def test_a_live_session_past_its_qr_life_is_left_to_the_threaded_read(pg_app: Flask) -> None:
    session_id = _session(pg_app, expires_at=utcnow() - timedelta(seconds=1))
    assert _loop_snapshot(pg_app, session_id) is None
    threaded = _reader(pg_app, session_id, words("en"), "ACME Shop", NEXT)()
    assert threaded is not None and threaded.payload["state"] == "expired"


def test_a_session_gone_reads_as_none(pg_app: Flask) -> None:
    assert _read_on_the_loop(pg_app, "no-such-session") is None
