"""SPEC §16 callback throughput: the statements a warm callback spends per push, counted on the real engine of
both databases, so that a change that adds a round trip to the hot path fails here rather than in a benchmark.

* a scan of a scene without a live login session (an expired QR code scanned, or anything else that changes
  nothing) costs one read and no transaction to commit;
* a scan that signs somebody in costs a fixed budget, measured once and asserted so that it cannot grow.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask

from idp_bridge.cache.listener import POLL_SECONDS
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.registration import create_client
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.wechat import health
from idp_bridge.wechat.connections import create_connection
from tests.login.conftest import AES, APP_ID, REDIRECT, Browser
from tests.support.statements import Tally, counting

TOKEN = "Token123"
DEAD_SCENE_BUDGET = 1  # the scene lookup; the connection and its secrets come from the process cache
# Scene lookup (with the columns that decide and the application's client id; its name comes from the process
# cache), claim, scanner (announced with the decision: no NOTIFY of its own), identity, new user and identity,
# outbox, the decision (+ NOTIFY) with its audit row in the same transaction, claim done. The connection, its
# identifier and the access token come from the process caches; user/info runs on a thread of its own while the
# scanner commits (its error count, written there, is not this thread's).
LOGIN_BUDGET = {"sqlite": 10, "postgresql": 12}
LOGIN_COMMITS = 3  # scanner (with the claim), decision, claim done


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


def _counting(app: Flask) -> Any:
    """Statements of this thread only: the live server's threads (the simulator answering user/info, the login
    page) are not the callback's work."""
    with app.app_context():
        engine = db.engine
    return counting(engine, thread=threading.get_ident())


def _warm(app: Flask, scene: str, openid: str) -> None:
    """A first push loads the connection (and writes callback health); the cache listener then settles on the
    versions of the rows just created, and a second push caches the connection under them."""
    assert _post_scan(app, scene, openid)[0] == 200
    time.sleep(2 * POLL_SECONDS)
    assert _post_scan(app, scene, openid + "2")[0] == 200


def _post_scan(app: Flask, scene: str, openid: str) -> tuple[int, str]:
    xml = render_event_xml("gh_acme", openid, int(time.time()), "SCAN", scene, "T")
    push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid=openid, to_user="gh_acme",
                      encoding_aes_key=AES)
    response = app.test_client().post("/connections/social/acme/events", query_string=push.params, data=push.body)
    return response.status_code, response.get_data(as_text=True)


def test_a_scan_that_changes_nothing_costs_one_read(app: Flask, client_id: str) -> None:
    health.forget_throttle()
    _warm(app, "acme_warmup", "oWARM")
    for i in range(3):
        with _counting(app) as counted:
            status, body = _post_scan(app, f"acme_gone{i}", f"oGONE{i}")
        assert (status, body) == (200, "success")
        assert len(counted.statements) <= DEAD_SCENE_BUDGET, counted.report()
        assert counted.commits == 0, counted.report()


def test_a_scan_that_signs_in_stays_within_its_budget(app: Flask, live_url: str, client_id: str) -> None:
    health.forget_throttle()

    def login(openid: str) -> tuple[Tally, str]:
        browser = Browser(live_url)
        browser.start(client_id)
        with app.app_context():
            scene = db.session.get(LoginSession, browser.login_session).scene  # type: ignore[union-attr]
            db.session.remove()
        with _counting(app) as counted:
            status, _ = _post_scan(app, scene, openid)
        assert status == 200
        with app.app_context():
            state = db.session.get(LoginSession, browser.login_session).state  # type: ignore[union-attr]
            db.session.remove()
        return counted, state

    login("oFIRST")  # warms the access-token cache, the connection cache and callback health
    time.sleep(2 * POLL_SECONDS)  # the cache listener settles on the versions of the rows just created
    login("oTHIRD")
    counted, state = login("oSECOND")
    assert state == "succeeded"
    with app.app_context():
        dialect = db.engine.dialect.name
    assert len(counted.statements) <= LOGIN_BUDGET[dialect], counted.report()
    assert counted.commits <= LOGIN_COMMITS, counted.report()
