"""Real Chromium (Debian's package) driven by Playwright against the running bridge + simulator."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from idp_bridge.oidc.registration import create_client, update_client
from tests.browser.rp import create_rp_app

# The simulator-enabled app and the connection factory are the follow-login tests' own fixtures.
from tests.login.conftest import APP_ID, app_config, make_connection  # noqa: E402,F401
from tests.support.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--lang=en-US"])
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(locale="en-US", viewport={"width": 1100, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def rp_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def rp(app: Flask, live_url: str, rp_server: LiveServer, make_connection: Any) -> dict[str, str]:
    """A confidential web application on its own loopback port, using redirect mode."""
    make_connection()
    redirect_uri = f"{rp_server.url}/cb"
    with app.app_context():
        client, secret = create_client("ACME Shop", [redirect_uri], web_origins=[rp_server.url])
        client_id = client.client_id
    rp_server.attach(create_rp_app(live_url, client_id, secret or "", redirect_uri))
    rp_server.start()
    return {"url": rp_server.url, "client_id": client_id}


@pytest.fixture
def try_client(app: Flask, live_url: str, make_connection: Any) -> str:
    """A public application with the try page enabled (as `idp-bridge demo` creates it)."""
    make_connection()
    with app.app_context():
        client, _ = create_client("ACME Try", [live_url + "/apps/x/callback"], public=True, try_page=True,
                                  web_origins=[live_url])
        update_client(client, redirect_uris=[f"{live_url}/apps/{client.client_id}/callback"])
        return client.client_id


def ticket_of(page: Page) -> str:
    href = page.get_attribute("#simulator-link", "href") or ""
    return href.rsplit("/", 1)[-1]


def phone(base: str, ticket: str, user: str, action: str = "follow") -> dict[str, Any]:
    return dict(requests.post(f"{base}/_simulator/api/scan", json={"ticket": ticket, "user": user,
                                                                     "action": action}, timeout=10).json())


def shot(page: Page, name: str) -> None:
    """Take the screenshot every run; write it to docs/screenshots/ when missing or when
    IDPB_UPDATE_SCREENSHOTS=1 (QR codes are random, so rewriting them on every run would dirty the tree)."""
    target = SCREENSHOTS / f"{name}.png"
    if target.exists() and os.environ.get("IDPB_UPDATE_SCREENSHOTS") != "1":
        target = Path(tempfile.gettempdir()) / "idp-bridge-screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 1000


def storage_dump(context: BrowserContext, page: Page) -> str:
    """Everything the browser keeps for our pages: cookies, localStorage, sessionStorage, URL, HTML."""
    data = {"cookies": context.cookies(), "url": page.url, "html": page.content()}
    try:
        data["storage"] = page.evaluate("() => JSON.stringify([localStorage, sessionStorage])")
    except Exception:  # a page on another origin or closed
        data["storage"] = ""
    return json.dumps(data, ensure_ascii=False)
