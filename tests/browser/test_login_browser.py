"""The whole follow login in real Chromium: redirect and pop-up modes, subscribe and SCAN, SSO, prompt=login,
QR renewal, refusals, binding, and two browsers at once. Writes the screenshots in docs/screenshots/."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from idp_bridge.accounts.models import Identity
from idp_bridge.extensions import db
from idp_bridge.simulator.state import openid_for
from tests.browser.conftest import APP_ID, phone, shot, storage_dump, ticket_of

pytestmark = pytest.mark.browser


def _login_page(page: Page, rp: dict[str, str], **query: str) -> None:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    page.goto(f"{rp['url']}/start{suffix}")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    expect(page.locator("#qr svg")).to_be_visible()


def test_redirect_mode_first_follow_then_sso_then_prompt_login(page: Page, context: BrowserContext, rp: dict[str, str],
                                                               live_url: str, database_url: str) -> None:
    _login_page(page, rp)
    if database_url.startswith("sqlite"):
        shot(page, "login-waiting")
    result = phone(live_url, ticket_of(page), "Alice", "follow")
    assert result["event"] == "subscribe" and result["reply"] == "欢迎登录 ACME"
    expect(page.locator("#rp-signed-in")).to_be_visible()
    sub = page.inner_text("#rp-sub")
    claims = json.loads(page.inner_text("#rp-claims"))
    openid = claims["openid"]
    assert openid == openid_for(APP_ID, "Alice")
    # SSO: a second login answers without a QR code.
    page.goto(f"{rp['url']}/start")
    expect(page.locator("#rp-signed-in")).to_be_visible()
    assert page.inner_text("#rp-sub") == sub
    # prompt=login forces a new scan; the follower now sends SCAN.
    _login_page(page, rp, prompt="login")
    assert phone(live_url, ticket_of(page), "Alice", "scan")["event"] == "SCAN"
    expect(page.locator("#rp-signed-in")).to_be_visible()
    assert page.inner_text("#rp-sub") == sub


def test_openid_never_reaches_the_browser_during_login(page: Page, context: BrowserContext, rp: dict[str, str],
                                                       live_url: str) -> None:
    seen: list[str] = []
    page.on("request", lambda req: seen.append(req.url))
    _login_page(page, rp)
    phone(live_url, ticket_of(page), "Olivia", "follow")
    page.wait_for_url(f"{rp['url']}/cb*")
    openid = openid_for(APP_ID, "Olivia")
    assert all(openid not in url for url in seen)
    # Before the RP page renders its own claims, nothing from our origin carried the openid.
    page.goto(live_url + "/healthz")
    assert openid not in storage_dump(context, page)


def test_qr_expiry_renews_the_code_on_the_same_page(app: Flask, page: Page, rp: dict[str, str],
                                                   live_url: str, database_url: str) -> None:
    from idp_bridge.login.models import LoginSession
    from idp_bridge.timeutil import utcnow

    _login_page(page, rp)
    first = ticket_of(page)
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(expires_at=utcnow()))
        db.session.commit()
    expect(page.locator("#simulator-link")).not_to_have_attribute("href", f"{live_url}/_simulator/qr/{first}",
                                                                  timeout=15_000)
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    second = ticket_of(page)
    assert second and second != first
    phone(live_url, second, "Peggy", "follow")
    expect(page.locator("#rp-signed-in")).to_be_visible()


def test_expired_state_screenshot(page: Page, rp: dict[str, str], database_url: str) -> None:
    """The 'expired' state as the page shows it just before it fetches a new code: the status stream is
    replaced by one 'expired' event and the renewal navigation is held (204), so the state stays visible."""
    expired = 'event: state\ndata: {"state": "expired", "message": "The QR code expired. Getting a new one\u2026"}\n\n'
    page.route("**/login/*/events*", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=expired))
    page.route("**/login/*?connection=*", lambda route: route.fulfill(status=204))
    # Not waiting for "load": the page starts its renewal navigation as soon as the stream says "expired",
    # which can be before its load event, and the held navigation may then keep that event from firing.
    page.goto(f"{rp['url']}/start", wait_until="domcontentloaded")
    expect(page.locator("#status")).to_have_attribute("data-state", "expired")
    expect(page.locator("#status")).to_contain_text("expired")
    if database_url.startswith("sqlite"):
        shot(page, "login-expired")


def test_login_only_refusal_and_blocked_user(app: Flask, page: Page, live_url: str, rp: dict[str, str],
                                            make_connection: Any, rp_server: Any, database_url: str) -> None:
    from idp_bridge.oidc.models import Client

    conn = make_connection("members", login_only=True, scene_prefix="mem_", display_name="会员服务号")
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == rp["client_id"]))
        assert client is not None
        from idp_bridge.oidc.registration import update_client

        update_client(client, connections=["members"])
    _login_page(page, rp)
    phone(live_url, ticket_of(page), "Mallory", "follow")
    expect(page.locator("#status")).to_have_attribute("data-state", "refused")
    expect(page.locator("#status")).to_contain_text("not registered")
    if database_url.startswith("sqlite"):
        shot(page, "login-refused")
    with app.app_context():
        from idp_bridge.accounts.models import User

        user = User(name="Trent", blocked=True)
        db.session.add(user)
        db.session.flush()
        db.session.add(Identity(user_id=user.id, connection_id=conn, openid=openid_for(APP_ID, "Trent")))
        db.session.commit()
    _login_page(page, rp)
    phone(live_url, ticket_of(page), "Trent", "follow")
    expect(page.locator("#status")).to_contain_text("blocked")


def test_binding_code_flow(app: Flask, page: Page, live_url: str, rp: dict[str, str], make_connection: Any,
                           cli_run: Any) -> None:
    from idp_bridge.oidc.models import Client
    from idp_bridge.oidc.registration import update_client

    make_connection("partners", association="binding", scene_prefix="par_")
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == rp["client_id"]))
        assert client is not None
        update_client(client, connections=["partners"])
    user = json.loads(cli_run("user", "create", "--name", "Victor", "--json").output)
    code = json.loads(cli_run("user", "invite", user["sub"], "--json").output)["binding_code"]
    _login_page(page, rp)
    phone(live_url, ticket_of(page), "Victor", "follow")
    expect(page.locator("#binding-form")).to_be_visible()
    page.fill("#binding-code", "WRONG123")
    page.click("#binding-form button")
    expect(page.locator(".binding-error")).to_be_visible()
    page.fill("#binding-code", code)
    page.click("#binding-form button")
    expect(page.locator("#rp-signed-in")).to_be_visible()


def test_two_browsers_at_once_never_get_each_others_login(chromium: Browser, rp: dict[str, str],
                                                         live_url: str) -> None:
    first, second = chromium.new_context(), chromium.new_context()
    try:
        a, b = first.new_page(), second.new_page()
        _login_page(a, rp)
        _login_page(b, rp)
        phone(live_url, ticket_of(b), "Bob", "follow")
        expect(b.locator("#rp-signed-in")).to_be_visible()
        expect(a.locator("#status")).to_have_attribute("data-state", "waiting")
        phone(live_url, ticket_of(a), "Alice", "follow")
        expect(a.locator("#rp-signed-in")).to_be_visible()
        claims_a = json.loads(a.inner_text("#rp-claims"))
        claims_b = json.loads(b.inner_text("#rp-claims"))
        assert claims_a["openid"] == openid_for(APP_ID, "Alice") and claims_b["openid"] == openid_for(APP_ID, "Bob")
    finally:
        first.close()
        second.close()


def test_popup_web_message_on_the_try_page(page: Page, context: BrowserContext, try_client: str, live_url: str,
                                          database_url: str) -> None:
    page.goto(f"{live_url}/apps/{try_client}/try")
    with page.expect_popup() as popup_info:
        page.click("#try-signin")
    popup = popup_info.value
    expect(popup.locator("#status")).to_have_attribute("data-state", "waiting")
    assert "popup" in (popup.get_attribute("body", "class") or "")
    if database_url.startswith("sqlite"):
        popup.set_viewport_size({"width": 500, "height": 600})
        shot(popup, "login-popup")
    ticket = ticket_of(popup)
    # Scan through the simulated phone page, as a person would in the demo.
    phone_page = context.new_page()
    phone_page.goto(f"{live_url}/_simulator/qr/{ticket}")
    phone_page.fill("#user", "Wendy")
    phone_page.click("#sim-follow")
    expect(phone_page.locator("#sim-result")).to_have_attribute("data-status", "delivered")
    if database_url.startswith("sqlite"):
        shot(phone_page, "simulator-phone")
    phone_page.close()
    expect(page.locator("#try-status")).to_have_attribute("data-state", "signed-in", timeout=15_000)
    claims = json.loads(page.inner_text("#try-claims"))
    assert claims["openid"] == openid_for(APP_ID, "Wendy") and claims["aud"] == try_client
    info = json.loads(page.inner_text("#try-userinfo"))
    assert info["sub"] == claims["sub"]
    if database_url.startswith("sqlite"):
        shot(page, "try-login-result")


def test_success_state_screenshot(page: Page, rp: dict[str, str], live_url: str, database_url: str) -> None:
    """Catch the page in its 'succeeded' state (it navigates on at once) by pausing navigation."""
    _login_page(page, rp)
    page.route("**/login/*/complete*", lambda route: route.fulfill(status=204))  # 204: the page stays
    phone(live_url, ticket_of(page), "Sybil", "follow")
    expect(page.locator("#status")).to_have_attribute("data-state", "succeeded")
    if database_url.startswith("sqlite"):
        shot(page, "login-success")


def test_chinese_page_for_chinese_browsers(chromium: Browser, rp: dict[str, str], database_url: str) -> None:
    ctx = chromium.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    try:
        page = ctx.new_page()
        _login_page(page, rp)
        expect(page.locator("#status")).to_contain_text("等待微信扫码")
        if database_url.startswith("sqlite"):
            shot(page, "login-waiting-zh")
    finally:
        ctx.close()


def test_no_500_on_the_login_pages_with_junk(page: Page, live_url: str) -> None:
    for path in ("/login/x", "/login/" + "a" * 300, "/login/x/events?ls=y", "/login/x/complete?ls=" + "z" * 100,
                 "/apps/nope/try"):
        response = requests.get(live_url + path, timeout=5)
        assert response.status_code in (400, 404), (path, response.status_code)


def test_confirm_in_wechat_flow(app: Flask, page: Page, context: BrowserContext, live_url: str, rp: dict[str, str],
                                make_connection: Any, database_url: str) -> None:
    from idp_bridge.oidc.models import Client
    from idp_bridge.oidc.registration import update_client

    make_connection("careful", confirm_in_wechat=True, scene_prefix="cf_", display_name="安全服务号")
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == rp["client_id"]))
        assert client is not None
        update_client(client, connections=["careful"])
    _login_page(page, rp)
    ticket = ticket_of(page)
    phone(live_url, ticket, "Quinn", "follow")
    expect(page.locator("#confirm-code")).to_be_visible()
    code = page.inner_text("#confirm-code")
    if database_url.startswith("sqlite"):
        shot(page, "login-confirm")
    phone_page = context.new_page()
    phone_page.goto(f"{live_url}/_simulator/qr/{ticket}?user=Quinn")
    phone_page.fill("#sim-content", code)
    phone_page.click("#sim-send")
    expect(phone_page.locator("#sim-result")).to_contain_text("Confirmed")
    expect(page.locator("#rp-signed-in")).to_be_visible()
