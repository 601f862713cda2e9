"""The console's connection page shows what the callback last saw (SPEC §12): the last push received and the last
refused push with its reason, kept per connection in the database."""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import Flask

from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.wechat import health
from tests.admin.test_console_hostile import _signed_in
from tests.login.conftest import AES, APP_ID, app_config, make_connection  # noqa: F401


def test_connection_page_shows_the_last_push_and_the_last_refusal(
        app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    health.forget_throttle()
    make_connection()
    url = f"{live_url}/connections/social/acme/events"
    browser, _csrf = _signed_in(app, live_url, "viewer")
    before = browser.get(f"{live_url}/admin/connections/acme", timeout=10).text
    assert 'id="last-event">none yet' in before and 'id="last-refusal">none yet' in before
    push = build_push(render_event_xml("gh_acme", "oSOMEONE", int(time.time()), "subscribe"), token="Token123",
                      mode="safe", app_id=APP_ID, openid="oSOMEONE", to_user="gh_acme", encoding_aes_key=AES)
    forged = {**push.params, "signature": "0" * 40}
    assert requests.post(url, params=forged, data=push.body, timeout=10).status_code == 403
    assert requests.post(url, params=push.params, data=push.body, timeout=10).status_code == 200
    after = browser.get(f"{live_url}/admin/connections/acme", timeout=10).text
    assert "UTC · subscribe" in after.split('id="last-event">', 1)[1].split("</td>", 1)[0]
    refusal = after.split('id="last-refusal">', 1)[1].split("</td>", 1)[0]
    assert "bad signature" in refusal and "1 refused" in refusal


def test_a_flood_of_forged_pushes_writes_at_most_once_a_second(
        app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    health.forget_throttle()
    connection_id = make_connection()
    url = f"{live_url}/connections/social/acme/events"
    for i in range(30):
        params = {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": str(i)}
        assert requests.post(url, params=params, data=b"<xml/>", timeout=10).status_code == 403
    with app.app_context():
        assert 1 <= health.of(connection_id).refusals <= 3  # 30 refusals in well under 3 s
