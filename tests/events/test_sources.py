"""Every event type of SPEC §14 arrives once, signed as Standard Webhooks, from a real login over HTTP
(bridge + mounted WeChat simulator), the CLI and the callback — on both databases."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from standardwebhooks import Webhook as Verifier

from idp_bridge.events.outbox import TYPES
from idp_bridge.events.webhooks import create_webhook
from idp_bridge.simulator.state import openid_for
from tests.events.receiver import Receiver
from tests.events.test_outbox import drain
from tests.login.conftest import APP_ID, Browser, binding_login, scan


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


def _received(app: Flask, receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    with app.app_context():
        drain()
    return [dict(Verifier(secret).verify(r.body, r.headers)) for r in receiver.requests]


def test_each_event_type_arrives_once_signed(app: Flask, live_url: str, rp: tuple[str, str],
                                             make_connection: Any, cli_run: Any,
                                             receiver: Receiver) -> None:
    with app.app_context():
        _hook, secret = create_webhook(receiver.url, TYPES)
    browser = Browser(live_url)
    browser.start(rp[0])
    assert browser.scanned("Alice", "follow")["status"] == "delivered"
    assert browser.events[-1]["state"] == "succeeded"
    browser.finish()
    alice = json.loads(cli_run("user", "list", "--json").output)["users"][0]["sub"]
    assert cli_run("user", "block", alice).exit_code == 0
    again = Browser(live_url)
    again.start(rp[0])
    again.scanned("Alice", "scan")  # a blocked user is refused
    assert again.events[-1]["state"] == "refused"
    assert scan(live_url, browser.ticket, "Alice", "unfollow")["status"] == "delivered"
    linking, code, _user = binding_login(app, live_url, make_connection, cli_run, "Pat")
    linking.scanned("Pat", "follow")
    bound = linking.session.post(f"{live_url}/login/{linking.pending_id}/bind", timeout=10, allow_redirects=False,
                                 data={"code": code, "ls": linking.login_session, "csrf_token": _csrf(linking)})
    assert bound.status_code == 303
    assert cli_run("user", "delete", alice).exit_code == 0

    events = _received(app, receiver, secret)
    kinds = Counter(e["type"] for e in events)
    assert set(kinds) == set(TYPES), kinds
    assert kinds["user.created"] == 2  # Alice at her first login, Pat by the CLI
    assert kinds["wechat.subscribe"] == 2 and kinds["wechat.unsubscribe"] == 1
    assert all(kinds[t] == 1 for t in ("user.login", "login.refused", "user.blocked", "user.deleted",
                                       "identity.linked")), kinds
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["user.login"] == {"user": alice, "connection": "acme", "client": rp[0], "new_follower": True}
    assert by_type["login.refused"]["reason"] == "blocked" and by_type["login.refused"]["user"] == alice
    assert by_type["wechat.unsubscribe"] == {"connection": "acme", "openid": openid_for(APP_ID, "Alice"),
                                             "user": alice, "login": False}
    assert by_type["identity.linked"]["via"] == "binding"
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == len(receiver.requests)


def test_a_returning_follower_is_not_a_new_follower(app: Flask, live_url: str, rp: tuple[str, str],
                                                    receiver: Receiver) -> None:
    with app.app_context():
        _hook, secret = create_webhook(receiver.url, ["user.login"])
    for action in ("follow", "scan"):
        browser = Browser(live_url)
        browser.start(rp[0])
        browser.scanned("Bea", action)
        browser.finish()
    flags = [e["data"]["new_follower"] for e in _received(app, receiver, secret)]
    assert flags == [True, False]


def _csrf(browser: Browser) -> str:
    import re

    page = browser.open_page()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def test_every_refusal_is_reported_with_its_reason(app: Flask, live_url: str, make_connection: Any, cli_run: Any,
                                                   receiver: Receiver) -> None:
    """Too many wrong binding codes refuse the login too: ``login.refused`` is written by the login state machine's
    refusing move itself (same transaction), whichever path refuses."""
    with app.app_context():
        _hook, secret = create_webhook(receiver.url, ["login.refused"])
    browser, _code, _user = binding_login(app, live_url, make_connection, cli_run, "Quinn")
    browser.scanned("Quinn", "follow")
    for attempt in range(5):
        wrong = browser.session.post(f"{live_url}/login/{browser.pending_id}/bind", timeout=10, allow_redirects=False,
                                     data={"code": f"WRONG{attempt}", "ls": browser.login_session,
                                           "csrf_token": _csrf(browser)})
        assert wrong.status_code in (400, 403)
    refused = [e["data"] for e in _received(app, receiver, secret) if e["type"] == "login.refused"]
    assert refused == [{"reason": "binding", "user": None, "connection": "partners", "client": refused[0]["client"]}]


def test_someone_else_s_follow_through_the_same_code_is_not_a_new_follower(
        app: Flask, live_url: str, rp: tuple[str, str], receiver: Receiver) -> None:
    """``new_follower`` says whether *this login's* scan was a follow: a second person following through the same
    QR code (refused, or ignored once the login is decided) is their follow, reported as ``wechat.subscribe``."""
    with app.app_context():
        _hook, secret = create_webhook(receiver.url, ["user.login", "wechat.subscribe"])
    for second in (None, "Dan"):
        browser = Browser(live_url)
        browser.start(rp[0])
        browser.scanned("Cleo", "follow" if second is None else "scan")
        if second is not None:
            assert scan(live_url, browser.ticket, second, "follow")["status"] == "delivered"
        browser.finish()
    events = _received(app, receiver, secret)
    assert [e["data"]["new_follower"] for e in events if e["type"] == "user.login"] == [True, False]
    assert ([e["data"]["openid"] for e in events if e["type"] == "wechat.subscribe"]
            == [openid_for(APP_ID, "Cleo"), openid_for(APP_ID, "Dan")])
