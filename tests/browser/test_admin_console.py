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
    page.fill("#q", openid_for(APP_ID, "Vera"))
    page.click("form[role=search] button")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    if database_url.startswith("sqlite"):
        shot(page, "admin-users")
    page.click(f"text={vera}")
    expect(page.locator("#user-sub")).to_have_text(vera)
    expect(page.locator("#identities")).to_contain_text(openid_for(APP_ID, "Vera"))
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
