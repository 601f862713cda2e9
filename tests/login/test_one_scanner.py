"""SPEC §15 "one scanner per login session" and atomic attempt counting, over real HTTP on both databases.

The first verified event fixes who scanned; a second person who saw the QR code (over a shoulder, on a shared
screen) changes nothing — neither the account a binding code links nor the login a chat code confirms.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from flask import Flask

from idp_bridge.accounts.models import Identity
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.state import openid_for
from tests.login.conftest import APP_ID, binding_login, client_params, confirm_login, scan


def _csrf(page_text: str) -> str:
    return page_text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _row(app: Flask, login_session: str) -> LoginSession:
    with app.app_context():
        row = db.session.get(LoginSession, login_session)
        assert row is not None
        db.session.expunge(row)
        return row


def test_second_scanner_cannot_take_over_a_binding(app: Flask, live_url: str, make_connection: Any,
                                                   cli_run: Any) -> None:
    victim, code, _user = binding_login(app, live_url, make_connection, cli_run, "Victim")
    victim.scanned("Victim")
    assert victim.events[-1]["state"] == "binding"
    refused = scan(live_url, victim.ticket, "Mallory", "follow")  # same QR, another WeChat user
    assert "already being used" in (refused["reply"] or "")
    assert _row(app, victim.login_session).openid == openid_for(APP_ID, "Victim")
    page = victim.open_page()
    done = victim.session.post(f"{live_url}/login/{victim.pending_id}/bind", timeout=5, allow_redirects=False,
                               data={"csrf_token": _csrf(page.text), "ls": victim.login_session, "code": code})
    assert done.status_code == 303
    with app.app_context():
        openids = {i.openid for i in db.session.scalars(db.select(Identity))}
    assert openids == {openid_for(APP_ID, "Victim")}, "the invited account must be bound to the first scanner"


def test_second_scanner_cannot_confirm_or_replace_a_confirm_in_wechat_login(
        app: Flask, live_url: str, make_connection: Any) -> None:
    victim = confirm_login(app, live_url, make_connection)
    victim.scanned("Vera")
    assert victim.events[-1]["state"] == "confirm"
    page = victim.open_page()
    code = page.text.split('id="confirm-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    first = _row(app, victim.login_session)
    # The attacker scans the same QR code and then sends the code she read off the victim's screen.
    assert "already being used" in (scan(live_url, victim.ticket, "Mallory", "follow")["reply"] or "")
    sent = requests.post(f"{live_url}/_simulator/api/scan", timeout=10, json={
        "ticket": victim.ticket, "user": "Mallory", "action": "text", "content": code}).json()
    assert not sent.get("reply")
    after = _row(app, victim.login_session)
    assert (after.state, after.openid, after.user_id) == ("confirm", first.openid, first.user_id)
    # The real scanner still completes, as herself.
    listener = victim.listen(until=("succeeded", "refused"))
    requests.post(f"{live_url}/_simulator/api/scan", timeout=10,
                  json={"ticket": victim.ticket, "user": "Vera", "action": "text", "content": code})
    listener.join(10)
    assert victim.events[-1]["state"] == "succeeded"
    assert _row(app, victim.login_session).user_id == first.user_id


def test_binding_respects_confirm_in_wechat(app: Flask, live_url: str, make_connection: Any, cli_run: Any) -> None:
    browser, code, _user = binding_login(app, live_url, make_connection, cli_run, "Quinn", confirm_in_wechat=True)
    browser.scanned("Quinn")
    page = browser.open_page()
    bound = browser.session.post(f"{live_url}/login/{browser.pending_id}/bind", timeout=5, allow_redirects=False,
                                 data={"csrf_token": _csrf(page.text), "ls": browser.login_session, "code": code})
    assert bound.status_code == 303 and "/complete" not in bound.headers["Location"]
    assert _row(app, browser.login_session).state == "confirm"
    page = browser.open_page()
    shown = page.text.split('id="confirm-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    listener = browser.listen(until=("succeeded", "refused"))
    requests.post(f"{live_url}/_simulator/api/scan", timeout=10,
                  json={"ticket": browser.ticket, "user": "Quinn", "action": "text", "content": shown})
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    assert "code" in client_params(browser.finish())


def test_concurrent_wrong_binding_codes_evaluate_at_most_five(app: Flask, live_url: str, make_connection: Any,
                                                              cli_run: Any) -> None:
    browser, _code, _user = binding_login(app, live_url, make_connection, cli_run, "Racer")
    browser.scanned("Racer")
    token = _csrf(browser.open_page().text)
    cookies = browser.session.cookies.get_dict()

    def guess(i: int) -> int:
        response = requests.post(f"{live_url}/login/{browser.pending_id}/bind", timeout=20, allow_redirects=False,
                                 cookies=cookies,
                                 data={"csrf_token": token, "ls": browser.login_session, "code": f"WRONG{i:04d}"})
        return response.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(32)))
    evaluated = statuses.count(400) + statuses.count(403)
    assert evaluated <= 5, statuses
    assert statuses.count(400) <= 4
    row = _row(app, browser.login_session)
    assert row.binding_attempts == 5 and row.state == "refused"


def test_confirm_attempts_are_counted_apart_from_binding_attempts(app: Flask, live_url: str,
                                                                  make_connection: Any) -> None:
    browser = confirm_login(app, live_url, make_connection)
    scan(live_url, browser.ticket, "Wendy", "follow")
    code = browser.open_page().text.split('id="confirm-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    wrong = "0000" if code != "0000" else "1111"
    for _ in range(3):
        requests.post(f"{live_url}/_simulator/api/scan", timeout=10,
                      json={"ticket": browser.ticket, "user": "Wendy", "action": "text", "content": wrong})
    row = _row(app, browser.login_session)
    assert (row.state, row.refusal, row.confirm_attempts, row.binding_attempts) == ("refused", "confirm", 3, 0)
