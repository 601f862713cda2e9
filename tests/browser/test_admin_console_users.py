"""The console's users screen and overview in real Chromium (SPEC §12 screens 1 and 4), the newer parts: a
third-party consent given through a real login and revoked from the user page; unlinking the last identity
(refused until confirmed); creating a user with the CLI's field errors; callback health with a WeChat API
errcode on the overview, readable with JavaScript off. Screenshots: docs/screenshots/admin-user-consents.png,
admin-user-new.png, admin-overview-health.png, admin-connection-health.png."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.oidc.models import Client, Consent
from idp_bridge.oidc.registration import update_client
from idp_bridge.simulator.state import openid_for
from idp_bridge.wechat import health
from idp_bridge.wechat.models import WeChatAccessToken
from tests.browser.conftest import APP_ID, shot
from tests.browser.console import console_signin, scan_in

pytestmark = pytest.mark.browser


def _user(app: Flask, name: str) -> tuple[int, str]:
    with app.app_context():
        identity = db.session.scalar(db.select(Identity).where(Identity.openid == openid_for(APP_ID, name)))
        assert identity is not None
        user = db.session.get(User, identity.user_id)
        assert user is not None
        return user.id, user.sub


def test_consent_is_listed_and_revoked_and_the_last_identity_needs_confirming(
        app: Flask, page: Page, live_url: str, cli_run: Any, rp: dict[str, str], database_url: str) -> None:
    with app.app_context():  # the shop becomes a third party: its users are asked to consent
        client = db.session.scalar(db.select(Client).where(Client.client_id == rp["client_id"]))
        assert client is not None
        update_client(client, third_party=True)
    visitor = page.context.browser.new_context(locale="en-US").new_page()  # type: ignore[union-attr]
    visitor.goto(f"{rp['url']}/start")
    scan_in(visitor, live_url, "Vera")
    visitor.click("#consent-allow")
    expect(visitor.locator("#rp-signed-in")).to_be_visible()
    vera_id, vera = _user(app, "Vera")

    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/users/{vera}")
    expect(page.locator("#consents")).to_contain_text("ACME Shop")
    expect(page.locator("#consents")).to_contain_text("openid profile")
    expect(page.locator("#unlink-last-note")).to_contain_text("binding code")
    if database_url.startswith("sqlite"):
        shot(page, "admin-user-consents")

    page.click("#revoke-consent-1")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#consents")).not_to_contain_text("ACME Shop")
    with app.app_context():
        assert db.session.scalar(db.select(Consent).where(Consent.user_id == vera_id)) is None

    # The last identity: refused without the confirmation, with the rule in words; then confirmed.
    identity = page.locator("#identities tbody tr").first
    identity.locator("button").click()
    expect(page.locator("#action-error")).to_contain_text("is the user's last identity")
    expect(page.locator("#identities")).to_contain_text(openid_for(APP_ID, "Vera"))
    page.locator("#identities input[type=checkbox]").check()
    page.locator("#identities tbody tr button").first.click()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#identities")).not_to_contain_text(openid_for(APP_ID, "Vera"))
    with app.app_context():
        assert db.session.scalar(db.select(Identity).where(Identity.user_id == vera_id)) is None


def test_create_user_shows_the_cli_field_error_then_creates(
        app: Flask, page: Page, live_url: str, cli_run: Any, make_connection: Any, database_url: str) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/users")
    page.click("#create-user")
    expect(page.locator("h1")).to_have_text("Create a user")
    page.fill("#name", "Grace")
    page.select_option("#connection", "acme")
    page.fill("#openid", "not an openid!")
    page.click("#create")
    expect(page.locator("#openid-error")).to_have_text(
        "openid: must be 6-64 characters of letters, digits, '_' and '-'")
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.name == "Grace")) is None
    if database_url.startswith("sqlite"):
        shot(page, "admin-user-new")
    page.fill("#openid", "oGRACE_0001")
    page.click("#create")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#identities")).to_contain_text("oGRACE_0001")
    expect(page.locator("#identities")).to_contain_text("acme")


def test_overview_shows_a_wechat_errcode_per_connection_without_javascript(
        app: Flask, page: Page, live_url: str, cli_run: Any, make_connection: Any, database_url: str) -> None:
    health.forget_throttle()  # another test's push in this process must not hide Olga's
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    expect(page.locator("#health-acme .api-errors")).to_have_text("no errors")
    requests.post(f"{live_url}/_simulator/control/fail", json={"endpoint": "stable_token", "errcode": 40164},
                  timeout=10)
    with app.app_context():  # no cached token: the check must ask WeChat for one
        db.session.execute(db.delete(WeChatAccessToken))
        db.session.commit()
    page.goto(f"{live_url}/admin/connections/acme")
    page.click("#check")
    expect(page.locator("#check-result")).to_contain_text("error 40164")
    expect(page.locator("#last-event")).to_contain_text("UTC · subscribe")  # the connection page's own health
    if database_url.startswith("sqlite"):
        page.locator("#last-refusal").scroll_into_view_if_needed()
        shot(page, "admin-connection-health")

    nojs = page.context.browser.new_context(java_script_enabled=False, locale="en-US",  # type: ignore[union-attr]
                                            viewport={"width": 1100, "height": 1000})
    nojs.add_cookies(page.context.cookies())
    plain = nojs.new_page()
    plain.goto(f"{live_url}/admin/overview")
    cell = plain.locator("#health-acme .api-errors")
    expect(cell.locator(".errcode")).to_have_text("40164")
    expect(cell.locator(".count")).to_have_text("1")
    expect(cell).to_contain_text("IP whitelist")
    expect(plain.locator("#health-acme .last-event")).to_contain_text("UTC")  # Olga's own follow push
    if database_url.startswith("sqlite"):
        plain.locator("#callback-health").scroll_into_view_if_needed()
        shot(plain, "admin-overview-health")
    nojs.close()
