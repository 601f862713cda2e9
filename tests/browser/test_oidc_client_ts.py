"""A standard SPA library works unmodified: oidc-client-ts ``signinPopup`` against idp-bridge, configured
only from discovery (CORS on discovery, token, userinfo; redirect inside the pop-up)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from idp_bridge.oidc.registration import create_client
from idp_bridge.simulator.state import openid_for
from tests.browser.conftest import APP_ID, phone, ticket_of
from tests.browser.rp import ROOT, create_rp_app
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser
LIBRARY = ROOT / "node_modules" / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"


@pytest.fixture
def spa_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


def test_signin_popup_with_oidc_client_ts(app: Flask, page: Page, context: BrowserContext, live_url: str,
                                          spa_server: LiveServer, make_connection: object) -> None:
    assert Path(LIBRARY).is_file(), "run `npm ci` (the README's test command does) to install oidc-client-ts"
    make_connection()  # type: ignore[operator]
    with app.app_context():
        client, _ = create_client("SPA", [f"{spa_server.url}/static/popup-callback.html"], public=True,
                                  web_origins=[spa_server.url])
        client_id = client.client_id
    spa_server.attach(create_rp_app(live_url, client_id, "", f"{spa_server.url}/unused"))
    spa_server.start()
    page.goto(f"{spa_server.url}/static/oidc-client.html?issuer={live_url}&client_id={client_id}")
    with page.expect_popup() as popup_info:
        page.click("#spa-login")
    popup = popup_info.value
    expect(popup.locator("#status")).to_have_attribute("data-state", "waiting")
    assert "display=popup" in popup.url or "popup" in (popup.get_attribute("body", "class") or "")
    phone(live_url, ticket_of(popup), "Yvonne", "follow")
    expect(page.locator("body")).to_have_attribute("data-signed-in", "yes", timeout=15_000)
    profile = json.loads(page.inner_text("#spa-result"))
    assert profile["openid"] == openid_for(APP_ID, "Yvonne") and profile["iss"] == live_url
