"""More of the console in real Chromium (SPEC §12 screens 2, 3 and 8): a webhook created in the console shows
its secret once, a real event reaches a real receiver through the background sender and appears in the
delivery log, and Redeliver sends it again with the same webhook-id; an application's ready-to-paste settings
and the copy buttons (static copy.js); a connection's reach and event options and dropping the previous
EncodingAESKey. Screenshots: docs/screenshots/admin-webhooks*.png, admin-app-settings.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook as Verifier

from idp_bridge.accounts import admin
from idp_bridge.events import sender
from idp_bridge.events.models import Delivery
from idp_bridge.extensions import db
from idp_bridge.wechat import connections
from tests.browser.conftest import shot
from tests.browser.console import console_signin
from tests.events.receiver import Receiver, start_receiver

pytestmark = pytest.mark.browser

FAST = sender.Policy(backoff=(0.5, 0.5, 0.5))


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The receiver listens on loopback: allow private webhook targets."""
    return {**app_config, "webhook_allow_private": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from start_receiver()


@pytest.fixture
def senders(app: Flask, live_url: str) -> Iterator[None]:
    """The background sender `idp-bridge serve` runs, here in the test's process beside the live server."""
    threads = sender.start_background(app, threads=1, poll=0.2, policy=FAST)
    yield
    sender.stop_all(threads, timeout=5)


def _clipboard(page: Page) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_webhook_secret_once_delivery_in_the_log_and_redeliver(
        app: Flask, page: Page, live_url: str, cli_run: Any, make_connection: Any, receiver: Receiver,
        senders: None, database_url: str) -> None:
    make_connection()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    console_signin(page, live_url, cli_run, "Olga")
    page.click("nav >> text=Webhooks")
    expect(page.locator("#webhooks")).to_contain_text("Nothing here yet")
    page.click("#new-webhook")
    # A refused URL first: the SSRF guard's words, next to the field.
    page.fill("#url", "ftp://example.com/in")
    page.check("input[value='user.created']")
    page.click("#save")
    expect(page.locator("#url-error")).to_have_text("url: must be an absolute http(s) URL")
    page.fill("#url", receiver.url + "/in")
    page.click("#save")
    secret = page.inner_text("#webhook-secret")
    assert secret.startswith("whsec_")
    page.click("button[data-copy='#webhook-secret']")  # copy.js revealed the button; it copies the secret
    expect(page.locator("button[data-copy='#webhook-secret']")).to_have_attribute("data-state", "copied")
    assert _clipboard(page) == secret
    hook_id = page.inner_text("#webhook-id")
    page.goto(f"{live_url}/admin/webhooks/{hook_id}")
    assert secret not in page.content()  # shown once
    # An event happens; the sender delivers it to the receiver, signed with that secret.
    with app.app_context():
        admin.create_user(name="Lin")
    first = receiver.wait_for(1)[0]
    assert Verifier(secret).verify(first.body, first.headers)["type"] == "user.created"
    with app.app_context():
        delivery = db.session.scalars(db.select(Delivery)).one()
        delivery_id = delivery.id
    row = page.locator(f"#delivery-{delivery_id}")
    for _ in range(50):  # the log is a server-rendered page: reload until the sender has recorded the attempt
        page.reload()
        if row.locator(".state").inner_text() == "delivered":
            break
        time.sleep(0.2)
    expect(row.locator(".state")).to_have_text("delivered")
    expect(row).to_contain_text("200")
    if database_url.startswith("sqlite"):
        shot(page, "admin-webhook-log")
    page.click(f"#redeliver-{delivery_id}")
    expect(page.locator("#done")).to_be_visible()
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    Verifier(secret).verify(second.body, second.headers)
    page.goto(f"{live_url}/admin/webhooks")
    expect(page.locator("#webhooks tbody tr")).to_have_count(1)
    expect(page.locator("#webhooks")).to_contain_text(receiver.url + "/in")
    if database_url.startswith("sqlite"):
        shot(page, "admin-webhooks")


def test_app_settings_and_copy_buttons(app: Flask, page: Page, live_url: str, cli_run: Any,
                                       make_connection: Any, database_url: str) -> None:
    make_connection()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/apps/new")
    page.fill("#name", "Intranet")
    page.fill("#redirect_uris", "https://intranet.example/oauth2/callback\nhttps://intranet.example/redirect_uri")
    page.fill("#backchannel_logout_uri", "https://intranet.example/backchannel")
    page.click("#save")
    expect(page.locator(".field-error")).to_have_count(0)
    secret = page.inner_text("#client-secret")
    client_id = page.inner_text("#client-id")
    page.goto(f"{live_url}/admin/apps/{client_id}")
    expect(page.locator("#backchannel-uri")).to_have_text("https://intranet.example/backchannel")
    proxy = page.locator("#paste-oauth2-proxy")
    expect(proxy).to_contain_text(f'client_id = "{client_id}"')
    expect(proxy).to_contain_text('redirect_url = "https://intranet.example/oauth2/callback"')
    expect(page.locator("#paste-mod-auth-openidc")).to_contain_text(
        f"OIDCProviderMetadataURL {live_url}/.well-known/openid-configuration")
    expect(page.locator("#paste-oidc-client-ts")).to_contain_text(f'authority: "{live_url}"')
    assert secret not in page.content()
    expect(page.locator("#copy-oauth2-proxy")).to_have_text("Copy")
    page.evaluate("document.getElementById('app-settings').scrollIntoView()")
    if database_url.startswith("sqlite"):
        shot(page, "admin-app-settings")
    page.click("#copy-oauth2-proxy")
    expect(page.locator("#copy-oauth2-proxy")).to_have_attribute("data-state", "copied")
    copied = _clipboard(page)
    assert copied == proxy.inner_text() and 'oidc_email_claim = "sub"' in copied
    # The connection's callback URL has its copy button too.
    page.goto(f"{live_url}/admin/connections/acme")
    page.click("#copy-callback-url")
    assert _clipboard(page) == f"{live_url}/connections/social/acme/events"


def test_connection_options_and_dropping_the_previous_key(app: Flask, page: Page, live_url: str, cli_run: Any,
                                                          make_connection: Any) -> None:
    make_connection()
    console_signin(page, live_url, cli_run, "Olga")
    page.goto(f"{live_url}/admin/connections/acme/edit")
    page.check("#require_follow")
    page.click("#save")
    expect(page.locator("#require_follow-error")).to_have_text("require_follow: only applies with --web-auth")
    page.check("#web_auth")
    page.check("#code_login")
    page.select_option("#on_unsubscribe", "revoke")
    page.fill("#forward_url", "http://10.1.2.3:8080/wx")
    page.fill("#encoding_aes_key", "N" * 43)  # a key change: the previous key is kept until dropped
    page.click("#save")
    expect(page.locator("#web-auth")).to_have_text("yes")
    expect(page.locator("#on-unsubscribe")).to_have_text("revoke")
    expect(page.locator("#forward-url")).to_have_text("http://10.1.2.3:8080/wx")
    page.click("#drop-previous-key")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#drop-previous-key")).to_have_count(0)
    with app.app_context():
        row = connections.get_connection("acme")
        assert row is not None and row.previous_aes_key_sealed is None
        assert connections.connection_secrets(app.config["SECRET_KEY"], row).aes_keys() == ["N" * 43]
