"""Send-a-code over real HTTP (SPEC §13, §15): concurrent guesses from one sender evaluate at most five codes,
the code is stored only as a digest, a code is single-use, a confirm-in-WeChat connection still takes its 4-digit
confirmations, and texts that are not codes are left alone (not consumed)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.registration import create_client
from idp_bridge.wechat import reach
from idp_bridge.wechat.connections import get_connection
from tests.login.conftest import APP_ID, REDIRECT, Browser


def _code_browser(app: Flask, live_url: str, make_connection: Any, **options: Any) -> tuple[Browser, str]:
    make_connection("codes", scene_prefix="cd_", **options)
    with app.app_context():
        connection = get_connection("codes")
        assert connection is not None
        reach.apply(connection, {"code_login": True})
        client_id = create_client("Codes App", [REDIRECT], connections=["codes"])[0].client_id
    browser = Browser(live_url)
    browser.start(client_id)
    match = re.search(r'id="login-code"[^>]*>([A-Z0-9-]+)<', browser.page.text if browser.page else "")
    assert match, "no code on the page"
    return browser, match.group(1)


def _text(live_url: str, user: str, content: str) -> dict[str, Any]:
    return dict(requests.post(f"{live_url}/_simulator/api/text", timeout=10,
                              json={"app_id": APP_ID, "user": user, "content": content}).json())


def test_concurrent_wrong_codes_from_one_sender_evaluate_at_most_five(app: Flask, live_url: str,
                                                                     make_connection: Any) -> None:
    browser, code = _code_browser(app, live_url, make_connection)
    wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "HGFE-DCBA"
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: _text(live_url, "Quentin", wrong), range(12)))
    assert all(r["status"] == "delivered" for r in replies), replies
    evaluated = [r for r in replies if r["reply"]]
    assert len(evaluated) == 5, replies  # the other seven were counted first and refused without evaluation
    with app.app_context():
        row = db.session.get(LoginSession, browser.login_session)
        assert row is not None and row.state == "waiting"
        stored = row.login_code_digest or ""
        assert code.replace("-", "") not in stored and len(stored) == 64


def test_a_code_signs_in_once_and_other_texts_are_not_consumed(app: Flask, live_url: str,
                                                             make_connection: Any) -> None:
    browser, code = _code_browser(app, live_url, make_connection)
    assert _text(live_url, "Rita", "hello there")["reply"] is None  # ordinary chat: not ours
    listener = browser.listen(until=("succeeded",))
    assert "Codes App" in (_text(live_url, "Rita", code)["reply"] or "")
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    again = _text(live_url, "Sam", code)  # the code died with its use
    assert "not valid" in (again["reply"] or "")


def test_code_login_on_a_confirm_in_wechat_connection_still_confirms(app: Flask, live_url: str,
                                                                    make_connection: Any) -> None:
    browser, code = _code_browser(app, live_url, make_connection, confirm_in_wechat=True, reply_text=None)
    listener = browser.listen(until=("confirm",))
    first = _text(live_url, "Tina", code)
    assert "4-digit" in (first["reply"] or "")
    listener.join(10)
    assert browser.events[-1]["state"] == "confirm"
    page = browser.open_page()
    confirm = page.text.split('id="confirm-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    listener = browser.listen(until=("succeeded",))
    assert "Confirmed" in (_text(live_url, "Tina", confirm)["reply"] or "")
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"


def test_mode_2_forwards_code_texts_only_when_asked(app: Flask, live_url: str, make_connection: Any) -> None:
    import time
    from urllib.parse import urlencode

    from idp_bridge.forwarding import forward
    from idp_bridge.simulator.push import build_push, read_reply, render_text_message
    from idp_bridge.simulator.state import openid_for
    from tests.login.conftest import AES

    browser, code = _code_browser(app, live_url, make_connection)
    openid = openid_for(APP_ID, "Walt")

    def push(content: str) -> Any:
        xml = render_text_message("gh_x", openid, content, int(time.time()), int(time.time() * 1000))
        return build_push(xml, token="Token123", mode="safe", app_id=APP_ID, openid=openid, to_user="gh_x",
                          encoding_aes_key=AES)

    url = f"{live_url}/connections/social/codes/events"
    options: dict[str, Any] = {"scene_prefix": "cd_", "app_id": APP_ID, "encoding_aes_key": AES}
    chat, attempt = push("hello"), push(code.lower())
    assert forward(urlencode(chat.params), chat.body, url, code_login=True, **options) is None
    assert forward(urlencode(attempt.params), attempt.body, url, **options) is None  # not asked: stays with you
    answer = forward(urlencode(attempt.params), attempt.body, url, code_login=True, **options)
    assert answer is not None and answer.status == 200
    assert "Codes App" in (read_reply(answer.body, token="Token123", app_id=APP_ID, encoding_aes_key=AES) or "")
    with app.app_context():
        row = db.session.get(LoginSession, browser.login_session)
        assert row is not None and row.state == "succeeded" and row.openid == openid


def test_code_texts_are_not_passed_through_but_chat_is(app: Flask, live_url: str, make_connection: Any,
                                                       cli_run: Any) -> None:
    """With pass-through (SPEC §14) a code attempt, right or wrong, is the bridge's: never forwarded."""
    from flask import Flask as Backend
    from flask import request

    from tests.support.live import LiveServer

    seen: list[bytes] = []
    backend = Backend("backend")
    backend.add_url_rule("/wechat", "wechat", lambda: seen.append(request.get_data()) or "success",
                         methods=["POST"])
    server = LiveServer()
    server.attach(backend)
    server.start()
    try:
        browser, code = _code_browser(app, live_url, make_connection)
        updated = cli_run("connection", "update", "codes", "--forward-url", server.url + "/wechat", "--json")
        assert updated.exit_code == 0, updated.output
        wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "HGFE-DCBA"
        assert "not valid" in (_text(live_url, "Xena", wrong)["reply"] or "")
        listener = browser.listen(until=("succeeded",))
        assert "Codes App" in (_text(live_url, "Xena", code)["reply"] or "")
        listener.join(10)
        assert seen == []
        _text(live_url, "Xena", "hello there")
        assert len(seen) == 1
    finally:
        server.stop()
