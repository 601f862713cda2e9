"""SPEC §15: a waiting login page always converges, in real Chromium.

A database outage while the page waits must not leave it saying "Waiting…" after the login succeeded, and a
page reloaded after success moves on to the application by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.registration import create_client
from idp_bridge.simulator.state import SimAccount
from idp_bridge.simulator.views import create_simulator_app
from idp_bridge.wechat.connections import create_connection
from tests.browser.rp import create_rp_app
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.login.conftest import AES, APP_ID
from tests.production.conftest import migrated_env, running_serve
from tests.support.live import LiveServer
from tests.support.tcpproxy import TcpProxy

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _phone(wechat: str, ticket: str, user: str) -> str:
    """The person scans (already following or not); returns how the delivery to the bridge went."""
    answer = requests.post(f"{wechat}/api/scan", json={"ticket": ticket, "user": user, "action": "follow"},
                           timeout=10)
    return str(answer.json()["status"])


def _ticket(app: Flask) -> str:
    with app.app_context():
        row = db.session.scalar(db.select(LoginSession).order_by(LoginSession.created_at.desc()))
        assert row is not None
        ticket = row.ticket
        db.session.remove()
        return ticket


def _wire(app: Flask, live_url: str, rp_server: LiveServer) -> None:
    with app.app_context():
        create_connection(app.config["SECRET_KEY"], identifier="acme", display_name="ACME", app_id=APP_ID,
                          app_secret="0123456789abcdef0123456789abcdef", token="Token123", encryption="safe",
                          encoding_aes_key=AES, reply_text="hi", scene_prefix="acme_")
        client, secret = create_client("ACME Shop", [f"{rp_server.url}/cb"])
        client_id = client.client_id
    rp_server.attach(create_rp_app(live_url, client_id, secret or "", f"{rp_server.url}/cb"))
    rp_server.start()


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`idp-bridge serve --workers 2` on PostgreSQL reached through a proxy the test can cut; WeChat (the
    simulator) and the application on their own loopback servers."""
    with throwaway_pg_database("idp_converge") as url:
        proxy = TcpProxy(("127.0.0.1", 5432))
        proxy.start()
        rp_server, wechat = LiveServer(), LiveServer()
        env, port = migrated_env(url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), tmp_path, wechat.url)
        bridge_url = f"http://127.0.0.1:{port}"
        wechat.attach(create_simulator_app([SimAccount(
            app_id=APP_ID, app_secret="0123456789abcdef0123456789abcdef", token="Token123", encryption="safe",
            encoding_aes_key=AES, callback_url=f"{bridge_url}/connections/social/acme/events")]))
        wechat.start()
        app = create_app({"database_url": url, "instance_dir": env["IDP_BRIDGE_INSTANCE_DIR"],
                          "issuer": bridge_url, "secret_key": TEST_SECRET_KEY})  # direct, for setup and reads
        _wire(app, bridge_url, rp_server)
        try:
            with running_serve(env, port, "--workers", "2", "--threads", "16"):
                yield {"app": app, "proxy": proxy, "url": bridge_url, "rp": rp_server.url, "wechat": wechat.url}
        finally:
            wechat.stop()
            rp_server.stop()
            proxy.cut()
            with app.app_context():
                db.engine.dispose()


def test_a_database_cut_while_the_page_waits_does_not_strand_it(page: Page, proxied: dict[str, Any]) -> None:
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.goto(f"{proxied['rp']}/start")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    ticket = _ticket(proxied["app"])
    loaded = len(navigations)
    proxied["proxy"].cut()
    cut_at = time.monotonic()
    assert _phone(proxied["wechat"], ticket, "Dora") == "callback_503"  # WeChat will retry
    time.sleep(max(0.0, 5.0 - (time.monotonic() - cut_at)))
    proxied["proxy"].start()
    # WeChat's retry (the same person, the same QR code) now succeeds.
    deadline = time.monotonic() + 15
    while _phone(proxied["wechat"], ticket, "Dora") != "delivered":
        assert time.monotonic() < deadline, "the callback did not recover"
        time.sleep(0.5)
    expect(page.locator("#rp-signed-in")).to_be_visible(timeout=30_000)
    # No reload of the login page in between: the next navigations are completion → authorize → application.
    assert not any("/login/" in url and "/complete" not in url for url in navigations[loaded:]), navigations


def test_a_page_reloaded_after_success_moves_on_to_the_application(page: Page, proxied: dict[str, Any]) -> None:
    page.route("**/login/*/events*", lambda route: route.abort())
    page.route("**/login/*/status*", lambda route: route.abort())
    page.goto(f"{proxied['rp']}/start")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    assert _phone(proxied["wechat"], _ticket(proxied["app"]), "Eli") == "delivered"
    page.wait_for_timeout(500)
    assert "/login/" in page.url  # the page could not learn the outcome (its status channel was cut)
    page.reload()
    expect(page.locator("#rp-signed-in")).to_be_visible()
