"""The admin console in real Chromium, as a new operator (SPEC §12): from `idp-bridge admin invite` to signed
in through the simulator; users, applications, signing keys; viewer 403; CSRF 400; console session expiry.
Screenshots go to docs/screenshots/admin-*.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from idp_bridge.accounts.models import Identity, User
from idp_bridge.admin.models import Admin, AdminSession
from idp_bridge.extensions import db
from idp_bridge.oidc.keystore import list_keys
from idp_bridge.oidc.models import Client, SsoSession, Token
from idp_bridge.simulator.state import openid_for
from idp_bridge.timeutil import utcnow
from tests.browser.conftest import APP_ID, phone, shot, ticket_of
from tests.browser.console import console_signin, scan_in

pytestmark = pytest.mark.browser


def _sub_of(app: Flask, user: str) -> str:
    with app.app_context():
        identity = db.session.scalar(db.select(Identity).where(Identity.openid == openid_for(APP_ID, user)))
        assert identity is not None
        return str(db.session.get(User, identity.user_id).sub)


def test_invite_signs_in_and_users_screen_blocks_unblocks_and_signs_out(
        app: Flask, page: Page, live_url: str, cli_run: Any, rp: dict[str, str], database_url: str) -> None:
    console_signin(page, live_url, cli_run, "Olga")
    olga = _sub_of(app, "Olga")
    with app.app_context():
        assert db.session.scalar(db.select(Admin.role).where(Admin.sub == olga)) == "admin"
    # A visitor signs in to the shop; the operator finds them by openid.
    visitor = page.context.browser.new_context(locale="en-US").new_page()  # type: ignore[union-attr]
    visitor.goto(f"{rp['url']}/start")
    scan_in(visitor, live_url, "Vera")
    expect(visitor.locator("#rp-signed-in")).to_be_visible()
    vera = _sub_of(app, "Vera")
    page.goto(f"{live_url}/admin/users")
    page.fill("#q", openid_for(APP_ID, "Vera"))
    page.click("form[role=search] button")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")
    page.goto(f"{live_url}/admin/users?connection=acme")
    expect(page.locator("#users tbody tr")).to_have_count(2)  # Olga and Vera signed in through acme
    page.goto(f"{live_url}/admin/users?connection=acme&since={tomorrow}")
    expect(page.locator("#users")).to_have_count(0)
    page.goto(f"{live_url}/admin/users?q={openid_for(APP_ID, 'Vera')}")
    if database_url.startswith("sqlite"):
        shot(page, "admin-users")
    page.click(f"text={vera}")
    expect(page.locator("#user-sub")).to_have_text(vera)
    expect(page.locator("#identities")).to_contain_text(openid_for(APP_ID, "Vera"))
    expect(page.locator("#history")).to_contain_text("login.success")
    expect(page.locator("#sso-sessions tbody tr")).to_have_count(1)
    page.click("#binding-invite")
    assert len(page.inner_text("#binding-code")) == 8  # shown once, as `idp-bridge user invite` prints it
    if database_url.startswith("sqlite"):
        shot(page, "admin-user")
    # Block: the visitor's next login is refused.
    page.click("#block")
    expect(page.locator("#user-blocked")).to_have_text("yes")
    visitor.goto(f"{rp['url']}/start?prompt=login")
    scan_in(visitor, live_url, "Vera", "scan")
    expect(visitor.locator("#status")).to_have_attribute("data-state", "refused")
    # Unblock: they may sign in again; sign out everywhere ends their sessions and tokens.
    page.click("#unblock")
    expect(page.locator("#user-blocked")).to_have_text("no")
    visitor.goto(f"{rp['url']}/start?prompt=login")
    scan_in(visitor, live_url, "Vera", "scan")
    expect(visitor.locator("#rp-signed-in")).to_be_visible()
    with app.app_context():
        vera_id = db.session.scalar(db.select(User.id).where(User.sub == vera))
        assert db.session.scalar(db.select(db.func.count()).select_from(Token).where(
            Token.user_id == vera_id, Token.revoked_at.is_(None))) > 0
    page.click("#signout-everywhere")
    expect(page.locator("#done")).to_be_visible()
    with app.app_context():
        live = [db.select(db.func.count()).select_from(model).where(model.user_id == vera_id,
                                                                       model.revoked_at.is_(None))
                for model in (Token, SsoSession)]
        assert [db.session.scalar(q) for q in live] == [0, 0]
    visitor.goto(f"{rp['url']}/start")  # no SSO any more: the QR code again
    expect(visitor.locator("#status")).to_have_attribute("data-state", "waiting")
    # Every console action is audited with the admin's sub.
    page.goto(f"{live_url}/admin/audit?actor={olga}")
    for action in ("user.block", "user.unblock", "user.signout_everywhere"):
        expect(page.locator("#audit")).to_contain_text(action)
    if database_url.startswith("sqlite"):
        shot(page, "admin-audit")
    exported = page.request.get(live_url + (page.get_attribute("#export", "href") or ""), max_redirects=0)
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text().splitlines()
    assert lines[0] == "at,action,actor,target,outcome,ip,request_id"
    assert any(",user.block," in line and f",{olga}," in line for line in lines)
    users_csv = page.request.get(f"{live_url}/admin/users.csv?q={openid_for(APP_ID, 'Vera')}").text().splitlines()
    assert users_csv[0] == "sub,name,blocked,created_at" and [line.split(",")[0] for line in users_csv[1:]] == [vera]
    # Sign-out ends the console session.
    page.click("#signout")
    expect(page.locator("#signin-again")).to_be_visible()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AdminSession).where(
            AdminSession.ended_at.is_(None))) == 0
    assert page.request.get(f"{live_url}/admin/users", max_redirects=0).status == 303


def test_applications_field_error_then_secret_once(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                   make_connection: Any, database_url: str) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/apps")
    page.click("#new-app")
    page.fill("#name", "Intranet")
    page.fill("#redirect_uris", "http://intranet.example/cb")
    page.click("#save")
    # The same words as `idp-bridge client create` (oidc/registration.py), next to the field; nothing written.
    expect(page.locator("#redirect_uris-error")).to_have_text(
        "redirect_uri: 'http://intranet.example/cb': http is allowed only for loopback hosts; use https")
    with app.app_context():
        assert db.session.scalar(db.select(Client).where(Client.name == "Intranet")) is None
    if database_url.startswith("sqlite"):
        shot(page, "admin-app-error")
    page.fill("#redirect_uris", "https://intranet.example/cb")
    page.click("#save")
    secret = page.inner_text("#client-secret")
    assert len(secret) >= 40
    if database_url.startswith("sqlite"):
        shot(page, "admin-app-created")
    page.reload()
    client_id = page.inner_text("#client-id")
    page.goto(f"{live_url}/admin/apps/{client_id}")
    assert secret not in page.content()
    page.goto(f"{live_url}/admin/apps")
    expect(page.locator("#apps")).to_contain_text("Intranet")
    if database_url.startswith("sqlite"):
        shot(page, "admin-apps")


def test_rotating_a_key_needs_a_fresh_signin(app: Flask, page: Page, live_url: str, cli_run: Any,
                                            make_connection: Any, database_url: str) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/keys")
    before = page.locator("#keys tbody tr").count()
    # Ten minutes later (console and bridge sign-in both older than max_age=300).
    with app.app_context():
        old = utcnow() - timedelta(minutes=10)
        db.session.execute(db.update(AdminSession).values(auth_time=old))
        db.session.execute(db.update(SsoSession).values(auth_time=int(old.timestamp())))
        db.session.commit()
    page.click("#rotate")
    scan_in(page, live_url, "Olga", "scan")  # asked to sign in again
    page.wait_for_url(f"{live_url}/admin/keys")
    page.click("#rotate")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#keys tbody tr")).to_have_count(before + 1)
    with app.app_context():
        assert sum(1 for k in list_keys() if k.describe()["state"] == "active") >= 1
    if database_url.startswith("sqlite"):
        shot(page, "admin-keys")


def test_viewer_gets_403_on_every_post(app: Flask, page: Page, live_url: str, cli_run: Any,
                                       make_connection: Any) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Vic", role="viewer")
    page.goto(f"{live_url}/admin/users")
    token = page.get_attribute("#signout + input, form input[name=csrf_token]", "value")
    posts = [rule.rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/admin") and "POST" in (rule.methods or ()) and rule.endpoint != "admin.signout"]
    assert len(posts) >= 6
    vic = _sub_of(app, "Vic")
    for path in posts:
        url = live_url + path.replace("<sub>", vic).replace("<client_id>", "idp-bridge-console")
        answer = page.request.post(url, form={"csrf_token": token or ""}, max_redirects=0)
        assert answer.status == 403, (path, answer.status)
    expect(page.locator("#viewer-note")).to_be_visible()


def test_csrf_missing_is_400_and_changes_nothing(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                 make_connection: Any) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    olga = _sub_of(app, "Olga")
    answer = page.request.post(f"{live_url}/admin/users/{olga}/block", form={}, max_redirects=0)
    assert answer.status == 400
    with app.app_context():
        assert db.session.scalar(db.select(User.blocked).where(User.sub == olga)) is False


def test_expired_console_session_goes_back_through_signin(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                          make_connection: Any) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    with app.app_context():
        db.session.execute(db.update(AdminSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        db.session.commit()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{live_url}/admin/audit")
    # The bridge's own SSO session is still alive, so the new sign-in needs no scan, but it happened.
    page.wait_for_url(f"{live_url}/admin/audit")
    assert any("/oauth/authorize" in url for url in seen) and any("/admin/callback" in url for url in seen)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AdminSession)) == 2


def test_unknown_wechat_account_is_refused(app: Flask, page: Page, live_url: str, make_connection: Any) -> None:
    make_connection()
    page.goto(f"{live_url}/admin/users")
    phone(live_url, ticket_of(page), "Mallory", "follow")
    expect(page.locator("#denied")).to_be_visible()
    assert page.request.get(f"{live_url}/admin/users", max_redirects=0).status == 303


def test_connection_bad_key_then_good_then_check(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                make_connection: Any, database_url: str) -> None:
    import requests

    from idp_bridge.wechat.models import Connection

    make_connection()  # the admin's own way in
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/connections")
    page.click("#new-connection")
    page.fill("#identifier", "shop")
    page.fill("#display_name", "ACME Shop 服务号")
    page.fill("#app_id", "wx00112233445566ff")
    page.fill("#app_secret", "0123456789abcdef0123456789abcdef")
    page.fill("#encoding_aes_key", "too-short")
    page.click("#save")
    # The words of `idp-bridge connection create` (wechat/connections.py), next to the field; nothing written.
    expect(page.locator("#encoding_aes_key-error")).to_have_text(
        "encoding_aes_key: must be exactly 43 characters of A-Z, a-z, 0-9 (required unless encryption is plaintext)")
    with app.app_context():
        assert db.session.scalar(db.select(Connection).where(Connection.identifier == "shop")) is None
    assert page.input_value("#app_secret") == ""  # a secret is never sent back to the browser
    if database_url.startswith("sqlite"):
        shot(page, "admin-connection-error")
    page.fill("#app_secret", "0123456789abcdef0123456789abcdef")
    page.fill("#encoding_aes_key", "A" * 43)
    page.click("#save")
    expect(page.locator("#callback-url")).to_have_text(f"{live_url}/connections/social/shop/events")
    page.click("#check")
    expect(page.locator("#check-result")).to_contain_text("stable_token: OK")
    expect(page.locator("#check-result")).to_contain_text("qrcode/create: OK")
    if database_url.startswith("sqlite"):
        shot(page, "admin-connection")
    # WeChat answers 40164: the page names the IP to whitelist.
    requests.post(f"{live_url}/_simulator/control/fail", json={"endpoint": "stable_token", "errcode": 40164},
                  timeout=10)
    with app.app_context():  # no cached token: the check must ask for one
        from idp_bridge.wechat.models import WeChatAccessToken

        db.session.execute(db.delete(WeChatAccessToken))
        db.session.commit()
    page.click("#check")
    expect(page.locator("#check-result")).to_contain_text("error 40164")
    expect(page.locator("#check-result")).to_contain_text("Add 127.0.0.1 to the IP whitelist")
    page.goto(f"{live_url}/admin/connections")
    expect(page.locator("#connections")).to_contain_text("shop")
    if database_url.startswith("sqlite"):
        shot(page, "admin-connections")


def test_overview_charts_are_server_rendered_svg_in_both_languages(
        app: Flask, page: Page, live_url: str, cli_run: Any, make_connection: Any, database_url: str) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")  # lands on the overview
    # Olga's own sign-in is one success in the current hour and one new user today.
    expect(page.locator("#signins-hourly desc")).to_contain_text("success 1")
    expect(page.locator("#new-users desc")).to_contain_text("users 1")
    expect(page.locator("#signins-hourly title").first).to_have_text(
        "Sign-ins per hour, last 24 hours (green: success, red: refused)")
    expect(page.locator("#budgets")).to_contain_text("acme")
    assert "<script" not in page.content()
    if database_url.startswith("sqlite"):
        shot(page, "admin-overview-en")
    chinese = page.context.browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 800})  # type: ignore[union-attr]
    chinese.add_cookies(page.context.cookies())
    zh = chinese.new_page()
    zh.goto(f"{live_url}/admin/overview")
    expect(zh.locator("h1")).to_have_text("概览")
    expect(zh.locator("#signins-hourly title").first).to_have_text("近 24 小时每小时登录次数（绿：成功，红：拒绝）")
    if database_url.startswith("sqlite"):
        shot(zh, "admin-overview-zh")
    chinese.close()


def test_try_login_from_the_applications_screen(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                make_connection: Any) -> None:
    import json

    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/apps/new")
    page.fill("#name", "Storefront")
    page.fill("#redirect_uris", "https://store.example/cb")
    page.check("#public")
    page.check("#try_page")
    page.click("#save")
    expect(page.locator("#client-secret")).to_have_count(0)  # a public client has no secret
    client_id = page.inner_text("#client-id")
    with page.expect_popup() as opened:
        page.click("#try-login")
    trying = opened.value
    with trying.expect_popup():
        trying.click("#try-signin")
    # The operator is signed in at the bridge already: single sign-on answers the pop-up without a QR code.
    expect(trying.locator("#try-status")).to_have_attribute("data-state", "signed-in", timeout=15_000)
    claims = json.loads(trying.inner_text("#try-claims"))
    assert claims["aud"] == client_id and claims["sub"] == _sub_of(app, "Olga")


def test_admins_screen_invites_a_viewer_and_revokes_them(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                         make_connection: Any, database_url: str) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/admins")
    page.select_option("#role", "viewer")
    page.click("#invite")  # Olga signed in seconds ago: fresh enough, no new sign-in
    url = page.inner_text("#invite-url")
    assert url.startswith(f"{live_url}/admin/invite/")
    if database_url.startswith("sqlite"):
        shot(page, "admin-admins")
    other = page.context.browser.new_context(locale="en-US").new_page()  # type: ignore[union-attr]
    other.goto(url)
    scan_in(other, live_url, "Victor")
    other.wait_for_url(f"{live_url}/admin/overview")
    expect(other.locator(".me")).to_contain_text("(viewer)")
    assert other.goto(url) is not None  # the invite was single-use
    expect(other.locator("#denied")).to_be_visible()
    victor = _sub_of(app, "Victor")
    page.goto(f"{live_url}/admin/admins")
    page.click(f"#admins tr:has-text('{victor}') button")
    expect(page.locator("#admins")).to_contain_text(victor)
    # Revoked: Victor's open console session ended with the role.
    assert other.request.get(f"{live_url}/admin/users", max_redirects=0).status == 303
    with app.app_context():
        assert db.session.scalar(db.select(Admin.revoked_at).where(Admin.sub == victor)) is not None


def _age_signins(app: Flask) -> None:
    """Ten minutes later: the console's and the bridge's sign-ins are both older than max_age=300."""
    with app.app_context():
        old = utcnow() - timedelta(minutes=10)
        db.session.execute(db.update(AdminSession).values(auth_time=old))
        db.session.execute(db.update(SsoSession).values(auth_time=int(old.timestamp())))
        db.session.commit()


def test_deleting_needs_the_identifier_and_a_fresh_signin(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                          make_connection: Any) -> None:
    from idp_bridge.oidc.registration import create_client
    from idp_bridge.wechat.models import Connection

    make_connection()
    make_connection("old-shop", scene_prefix="old_", app_id="wx00112233445566aa")
    from idp_bridge.accounts.admin import create_user

    with app.app_context():
        client_id = create_client("Old app", ["https://old.example/cb"])[0].client_id
        gone = create_user("Leaver").sub
    console_signin(page, live_url, cli_run, "Olga", choose="acme")
    for screen, key, model, column in ((f"/admin/apps/{client_id}", client_id, Client, Client.client_id),
                                       (f"/admin/users/{gone}", gone, User, User.sub),
                                       ("/admin/connections/old-shop", "old-shop", Connection,
                                        Connection.identifier)):
        page.goto(live_url + screen)
        page.fill("#confirm", "something else")
        page.click("#delete")  # wrong confirmation: refused, nothing deleted
        with app.app_context():
            assert db.session.scalar(db.select(model).where(column == key)) is not None
        _age_signins(app)
        page.goto(live_url + screen)
        page.fill("#confirm", key)
        page.click("#delete")
        scan_in(page, live_url, "Olga", "scan", choose="acme")  # asked to sign in again, then back on the screen
        page.wait_for_url(live_url + screen)
        page.fill("#confirm", key)
        page.click("#delete")
        page.wait_for_url(live_url + screen.rsplit("/", 1)[0])
        with app.app_context():
            assert db.session.scalar(db.select(model).where(column == key)) is None
