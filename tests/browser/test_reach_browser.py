"""Reach (SPEC §13) in real Chromium: send-a-code in the three encryption modes, subscription accounts without
QR codes, the phone layout, and in-WeChat web authorization. Writes docs/screenshots/login-mobile-*.png."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from idp_bridge.extensions import db
from idp_bridge.simulator.state import openid_for
from idp_bridge.wechat import reach
from idp_bridge.wechat.connections import get_connection, update_connection
from tests.browser.conftest import APP_ID, phone, shot, ticket_of

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 "
             "Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F30) "
             "WeChat/arm64 Weixin NetType/WIFI Language/en ABI/arm64")


def configure(app: Flask, identifier: str = "acme", encryption: str | None = None, **options: Any) -> None:
    with app.app_context():
        connection = get_connection(identifier)
        assert connection is not None
        if encryption is not None:
            update_connection(app.config["SECRET_KEY"], connection, encryption=encryption)
        reach.apply(connection, options)


def send_text(base: str, user: str, content: str) -> dict[str, Any]:
    return dict(requests.post(f"{base}/_simulator/api/text", json={"app_id": APP_ID, "user": user,
                                                                     "content": content}, timeout=10).json())


def calls(base: str) -> dict[str, int]:
    return dict(requests.get(f"{base}/_simulator/control/calls", timeout=10).json())


def shown_code(page: Page) -> str:
    expect(page.locator("#login-code")).to_be_visible()
    return page.inner_text("#login-code").strip()


def _code_page(page: Page, rp: dict[str, str]) -> str:
    page.goto(f"{rp['url']}/start")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    return shown_code(page)


@pytest.mark.parametrize("encryption", ["plaintext", "compatible", "safe"])
def test_send_a_code_signs_in_the_sender(app: Flask, page: Page, rp: dict[str, str], live_url: str,
                                        encryption: str) -> None:
    configure(app, encryption=encryption, code_login=True)
    code = _code_page(page, rp)
    assert len(code) == 9 and code[4] == "-"
    expect(page.locator("#qr svg")).to_be_visible()  # a service account offers both
    wrong = send_text(live_url, "Mallory", "ZZZZ-ZZZZ" if code != "ZZZZ-ZZZZ" else "YYYY-YYYY")
    assert wrong["status"] == "delivered" and "not valid" in (wrong["reply"] or "")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    # Case, spaces and dashes are ignored; the reply names the application.
    result = send_text(live_url, "Carol", " " + code.lower().replace("-", " ") + " ")
    assert result["status"] == "delivered" and "ACME Shop" in (result["reply"] or "")
    expect(page.locator("#rp-signed-in")).to_be_visible()
    claims = json.loads(page.inner_text("#rp-claims"))
    assert claims["openid"] == openid_for(APP_ID, "Carol")


def test_guessing_is_bounded_per_sender(app: Flask, page: Page, rp: dict[str, str], live_url: str) -> None:
    configure(app, code_login=True)
    code = _code_page(page, rp)
    wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "HGFE-DCBA"
    for _ in range(5):
        assert "not valid" in (send_text(live_url, "Eve", wrong)["reply"] or "")
    # The 6th attempt is not evaluated, even with the right code: silence, and no login.
    sixth = send_text(live_url, "Eve", code)
    assert sixth["status"] == "delivered" and sixth["reply"] is None
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    # Another sender is not affected by Eve's guesses.
    assert "ACME Shop" in (send_text(live_url, "Frank", code)["reply"] or "")
    expect(page.locator("#rp-signed-in")).to_be_visible()
    assert json.loads(page.inner_text("#rp-claims"))["openid"] == openid_for(APP_ID, "Frank")


def test_expired_code_is_renewed_on_the_page(app: Flask, page: Page, rp: dict[str, str], live_url: str) -> None:
    from idp_bridge.login.models import LoginSession
    from idp_bridge.timeutil import utcnow

    configure(app, code_login=True)
    first = _code_page(page, rp)
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(expires_at=utcnow(), login_code_expires_at=utcnow()))
        db.session.commit()
    expect(page.locator("#login-code")).not_to_have_text(first, timeout=15_000)
    second = shown_code(page)
    assert "not valid" in (send_text(live_url, "Grace", first)["reply"] or "")
    send_text(live_url, "Grace", second)
    expect(page.locator("#rp-signed-in")).to_be_visible()


def test_subscription_account_signs_in_without_any_qrcode_call(app: Flask, chromium: Browser,
                                                              rp: dict[str, str], live_url: str,
                                                              database_url: str) -> None:
    configure(app, account_type="subscription", account_qr_url="http://weixin.qq.com/r/simulated-account")
    before = calls(live_url).get("qrcode_create", 0)
    context = chromium.new_context(locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        code = _code_page(page, rp)
        expect(page.locator("#qr")).to_have_count(0)
        expect(page.locator("#account-qr svg")).to_be_visible()
        expect(page.locator("#status")).to_contain_text("Waiting for the code")
        if database_url.startswith("sqlite"):
            shot(page, "login-mobile-code")
        send_text(live_url, "Heidi", code)
        expect(page.locator("#rp-signed-in")).to_be_visible()
        assert json.loads(page.inner_text("#rp-claims"))["openid"] == openid_for(APP_ID, "Heidi")
    finally:
        context.close()
    assert calls(live_url).get("qrcode_create", 0) == before


def test_phone_layout_explains_the_album_scan(chromium: Browser, rp: dict[str, str], live_url: str,
                                             database_url: str) -> None:
    context = chromium.new_context(locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{rp['url']}/start")
        expect(page.locator("#album-hint")).to_be_visible()
        expect(page.locator("#album-hint")).to_contain_text("Album")
        box = page.locator("#qr svg").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        if database_url.startswith("sqlite"):
            shot(page, "login-mobile-qr")
        phone(live_url, ticket_of(page), "Ivan", "follow")
        expect(page.locator("#rp-signed-in")).to_be_visible()
    finally:
        context.close()


def test_desktop_layout_hides_the_album_hint(page: Page, rp: dict[str, str]) -> None:
    page.goto(f"{rp['url']}/start")
    expect(page.locator("#qr svg")).to_be_visible()
    expect(page.locator("#album-hint")).to_be_hidden()


def _wechat_context(chromium: Browser, live_url: str, user: str) -> BrowserContext:
    """A phone inside WeChat's browser, logged in to (simulated) WeChat as ``user``."""
    context = chromium.new_context(locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True,
                                   user_agent=WECHAT_UA)
    context.add_cookies([{"name": "sim_wechat_user", "value": user, "url": live_url + "/_simulator/"}])
    return context


def _qr_login_sub(page: Page, rp: dict[str, str], live_url: str, user: str) -> str:
    page.goto(f"{rp['url']}/start")
    phone(live_url, ticket_of(page), user, "follow")
    expect(page.locator("#rp-signed-in")).to_be_visible()
    return page.inner_text("#rp-sub")


def test_web_auth_signs_in_without_a_qr_as_the_same_person(app: Flask, chromium: Browser, page: Page,
                                                          rp: dict[str, str], live_url: str) -> None:
    configure(app, web_auth=True)
    sub = _qr_login_sub(page, rp, live_url, "Judy")
    before = calls(live_url).get("qrcode_create", 0)
    context = _wechat_context(chromium, live_url, "Judy")
    try:
        wechat = context.new_page()
        seen: list[str] = []
        wechat.on("request", lambda req: seen.append(req.url))
        wechat.goto(f"{rp['url']}/start")
        expect(wechat.locator("#rp-signed-in")).to_be_visible()
        assert wechat.inner_text("#rp-sub") == sub
        assert any("/_simulator/connect/oauth2/authorize" in url and "scope=snsapi_base" in url for url in seen)
        assert any("/login/oauth/acme?" in url for url in seen)
    finally:
        context.close()
    assert calls(live_url).get("qrcode_create", 0) == before  # no QR was made for the in-WeChat login


def test_web_auth_require_follow_shows_the_qr_and_a_long_press_completes(app: Flask, chromium: Browser,
                                                                        rp: dict[str, str], live_url: str,
                                                                        database_url: str) -> None:
    configure(app, web_auth=True, require_follow=True)
    context = _wechat_context(chromium, live_url, "Ken")
    try:
        wechat = context.new_page()
        wechat.goto(f"{rp['url']}/start")
        expect(wechat.locator("#long-press")).to_be_visible()
        expect(wechat.locator("#long-press")).to_contain_text("Long-press")
        expect(wechat.locator("#notice")).to_contain_text("follow")
        expect(wechat.locator("#status")).to_have_attribute("data-state", "waiting")
        wechat.wait_for_timeout(300)  # the status stream's first event keeps the page's own wording
        expect(wechat.locator("#status")).to_have_text("Waiting for you to follow the account…")
        if database_url.startswith("sqlite"):
            shot(wechat, "login-mobile-follow")
        result = phone(live_url, ticket_of(wechat), "Ken", "longpress")
        assert result["event"] == "subscribe"
        expect(wechat.locator("#rp-signed-in")).to_be_visible()
        assert json.loads(wechat.inner_text("#rp-claims"))["openid"] == openid_for(APP_ID, "Ken")
        sub = wechat.inner_text("#rp-sub")
        # Now a follower: the next sign-in inside WeChat needs no QR at all.
        before = calls(live_url).get("qrcode_create", 0)
        wechat.goto(f"{rp['url']}/start?prompt=login")
        expect(wechat.locator("#rp-signed-in")).to_be_visible()
        assert wechat.inner_text("#rp-sub") == sub
        assert calls(live_url).get("qrcode_create", 0) == before
    finally:
        context.close()


def _return_url(context: BrowserContext, rp: dict[str, str]) -> str:
    """Start a login in ``context`` (its cookies, its WeChat user agent) but stop at WeChat's authorize page;
    the simulator then answers with the return URL carrying ``code`` and ``state``."""
    url = f"{rp['url']}/start"
    for _ in range(6):
        answer = context.request.get(url, max_redirects=0, headers={"User-Agent": WECHAT_UA})
        location = answer.headers.get("location", "")
        assert answer.status in (302, 303) and location, (url, answer.status)
        url = location if location.startswith("http") else url.split("/", 3)[0] + "//" + url.split("/")[2] + location
        if "/_simulator/connect/oauth2/authorize" in url:
            break
    else:
        raise AssertionError("the page did not go to WeChat's web authorization")
    user = next(c["value"] for c in context.cookies() if c["name"] == "sim_wechat_user")
    wechat = requests.get(url.split("#", 1)[0], cookies={"sim_wechat_user": user}, allow_redirects=False, timeout=10)
    assert wechat.status_code == 302
    return wechat.headers["Location"]


def test_web_auth_state_is_single_use_and_bound_to_the_browser(app: Flask, chromium: Browser,
                                                             rp: dict[str, str], live_url: str,
                                                             database_url: str) -> None:
    configure(app, web_auth=True)
    owner = _wechat_context(chromium, live_url, "Liam")
    thief = _wechat_context(chromium, live_url, "Mike")
    try:
        # Foreign: the return URL opened in another browser signs nobody in.
        stolen = _return_url(owner, rp)
        other = thief.new_page()
        response = other.goto(stolen)
        assert response is not None and response.status == 400
        expect(other.locator("body")).to_contain_text("belongs to another browser")
        expect(other.locator("#rp-signed-in")).to_have_count(0)
        if database_url.startswith("sqlite"):
            shot(other, "login-mobile-state-refused")
        # Replayed: the owner's own return URL works once, then is refused.
        mine = _return_url(owner, rp)
        page = owner.new_page()
        page.goto(mine)
        expect(page.locator("#rp-signed-in")).to_be_visible()
        again = page.goto(mine)
        assert again is not None and again.status == 400
        expect(page.locator("body")).to_contain_text("already used")
    finally:
        owner.close()
        thief.close()


def test_wechat_error_during_the_exchange_falls_back_to_the_qr(app: Flask, chromium: Browser,
                                                              rp: dict[str, str], live_url: str) -> None:
    configure(app, web_auth=True)
    requests.post(f"{live_url}/_simulator/control/fail", json={"endpoint": "oauth2_access_token", "errcode": -1},
                  timeout=10)
    context = _wechat_context(chromium, live_url, "Nina")
    try:
        wechat = context.new_page()
        wechat.goto(f"{rp['url']}/start")
        expect(wechat.locator("#notice")).to_contain_text("use the QR code instead")
        expect(wechat.locator("#qr svg")).to_be_visible()
        phone(live_url, ticket_of(wechat), "Nina", "follow")
        expect(wechat.locator("#rp-signed-in")).to_be_visible()
    finally:
        context.close()


def test_try_page_pop_up_inside_wechat_and_the_three_ways(app: Flask, chromium: Browser, try_client: str,
                                                         live_url: str, database_url: str) -> None:
    configure(app, web_auth=True, code_login=True)
    context = _wechat_context(chromium, live_url, "Olga")
    try:
        page = context.new_page()
        page.goto(f"{live_url}/apps/{try_client}/try")
        expect(page.locator("#try-ways")).to_contain_text("MicroMessenger")
        expect(page.locator("#try-ways")).to_contain_text("Send a code")
        with page.expect_popup():
            page.click("#try-signin")
        expect(page.locator("#try-status")).to_have_attribute("data-state", "signed-in", timeout=15_000)
        assert json.loads(page.inner_text("#try-claims"))["openid"] == openid_for(APP_ID, "Olga")
        if database_url.startswith("sqlite"):
            shot(page, "login-mobile-try-wechat")
    finally:
        context.close()


def test_code_sent_from_the_simulated_chat_page(app: Flask, page: Page, context: BrowserContext,
                                               rp: dict[str, str]) -> None:
    configure(app, code_login=True)
    code = _code_page(page, rp)
    with page.expect_popup() as chat_info:
        page.click("#simulator-chat-link")
    chat = chat_info.value
    chat.fill("#user", "Pat")
    chat.fill("#sim-content", code)
    chat.click("#sim-send")
    expect(chat.locator("#sim-reply")).to_contain_text("ACME Shop")
    expect(page.locator("#rp-signed-in")).to_be_visible()
    assert json.loads(page.inner_text("#rp-claims"))["openid"] == openid_for(APP_ID, "Pat")


def test_phone_page_in_chinese_offers_the_qr_and_the_code(app: Flask, chromium: Browser, rp: dict[str, str],
                                                          live_url: str, database_url: str) -> None:
    configure(app, code_login=True)
    context = chromium.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True,
                                   extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    try:
        page = context.new_page()
        page.goto(f"{rp['url']}/start")
        expect(page.locator("#album-hint")).to_contain_text("相册")
        expect(page.locator("#code-login")).to_contain_text("请勿向他人展示")
        code = shown_code(page)
        if database_url.startswith("sqlite"):
            page.locator("#code-login").scroll_into_view_if_needed()
            shot(page, "login-mobile-qr-and-code-zh")
        send_text(live_url, "Uma", code)
        expect(page.locator("#rp-signed-in")).to_be_visible()
    finally:
        context.close()


def test_the_page_renews_the_code_when_its_five_minutes_are_over(app: Flask, page: Page, rp: dict[str, str],
                                                                  live_url: str) -> None:
    """The page's own timer (not a session expiry): after the code's life it loads a fresh code."""
    configure(app, code_login=True)
    page.clock.install()
    first = _code_page(page, rp)
    seconds = int(page.get_attribute("#login-root", "data-code-seconds") or "0")
    assert 290 <= seconds <= 300
    page.clock.run_for((seconds + 1) * 1000)
    expect(page.locator("#login-code")).not_to_have_text(first, timeout=15_000)
    second = shown_code(page)
    assert "not valid" in (send_text(live_url, "Vera", first)["reply"] or "")  # one live code per session
    send_text(live_url, "Vera", second)
    expect(page.locator("#rp-signed-in")).to_be_visible()
