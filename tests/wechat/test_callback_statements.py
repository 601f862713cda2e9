"""SPEC §16 callback throughput: the statements a warm callback spends per push, counted on the real engine of
both databases, so that a change that adds a round trip to the hot path fails here rather than in a benchmark.

* a scan of a scene without a live login session (an expired QR code scanned, or anything else that changes
  nothing) costs one read and no transaction to commit;
* a scan that signs somebody in costs a fixed budget, measured once and asserted so that it cannot grow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.registration import create_client
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.wechat import connection_cache, health
from idp_bridge.wechat.connections import create_connection
from tests.login.conftest import AES, APP_ID, REDIRECT, Browser

TOKEN = "Token123"
DEAD_SCENE_BUDGET = 1  # the scene lookup; the connection and its secrets come from the process cache
# Scene lookup, claim, session, scanner, application name, connection, access token, user/info error count,
# identity, new user, outbox, the decision, audit, claim done; PostgreSQL adds a NOTIFY per state change.
LOGIN_BUDGET = {"sqlite": 24, "postgresql": 27}


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)
    commits: int = 0


@contextmanager
def counting(app: Flask) -> Iterator[Counted]:
    """Statements and commits issued by this thread (the live server's threads, e.g. the simulator's, are not
    the callback's work)."""
    me, counted = threading.get_ident(), Counted()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == me:
            counted.statements.append(statement.split(None, 1)[0].upper() + " " + statement[:80])

    def on_commit(_conn: Any) -> None:
        if threading.get_ident() == me:
            counted.commits += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}  # the login page's QR code and user/info come from the simulator


@pytest.fixture
def client_id(app: Flask) -> str:
    """A safe-mode connection ``acme`` and an application that signs in through it."""
    with app.app_context():
        create_connection(app.config["SECRET_KEY"], identifier="acme", display_name="ACME", app_id=APP_ID,
                          app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption="safe",
                          encoding_aes_key=AES, scene_prefix="acme_", reply_text="hello")
        client, _ = create_client("ACME Shop", [REDIRECT])
        return str(client.client_id)


@pytest.fixture(autouse=True)
def warm_cache_stays_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count is of a warm callback: the periodic re-read of the connection (every ``MAX_AGE`` seconds) must
    not land inside the counted push on a slow machine."""
    monkeypatch.setattr(connection_cache, "MAX_AGE", 600.0)


def _post_scan(app: Flask, scene: str, openid: str) -> tuple[int, str]:
    xml = render_event_xml("gh_acme", openid, int(time.time()), "SCAN", scene, "T")
    push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid=openid, to_user="gh_acme",
                      encoding_aes_key=AES)
    response = app.test_client().post("/connections/social/acme/events", query_string=push.params, data=push.body)
    return response.status_code, response.get_data(as_text=True)


def test_a_scan_that_changes_nothing_costs_one_read(app: Flask, client_id: str) -> None:
    health.forget_throttle()
    assert _post_scan(app, "acme_warmup", "oWARM")[0] == 200  # loads the connection, writes callback health
    for i in range(3):
        with counting(app) as counted:
            status, body = _post_scan(app, f"acme_gone{i}", f"oGONE{i}")
        assert (status, body) == (200, "success")
        assert len(counted.statements) <= DEAD_SCENE_BUDGET, counted.statements
        assert counted.commits == 0, counted.statements


def test_a_scan_that_signs_in_stays_within_its_budget(app: Flask, live_url: str, client_id: str) -> None:
    health.forget_throttle()

    def login(openid: str) -> tuple[Counted, str]:
        browser = Browser(live_url)
        browser.start(client_id)
        with app.app_context():
            scene = db.session.get(LoginSession, browser.login_session).scene  # type: ignore[union-attr]
            db.session.remove()
        with counting(app) as counted:
            status, _ = _post_scan(app, scene, openid)
        assert status == 200
        with app.app_context():
            state = db.session.get(LoginSession, browser.login_session).state  # type: ignore[union-attr]
            db.session.remove()
        return counted, state

    login("oFIRST")  # warms the access-token cache, the connection cache and callback health
    counted, state = login("oSECOND")
    assert state == "succeeded"
    with app.app_context():
        dialect = db.engine.dialect.name
    assert len(counted.statements) <= LOGIN_BUDGET[dialect], counted.statements
