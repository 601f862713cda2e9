"""Faults around a login (SPEC §7.4): Redis unreachable, WeChat's user/info slow or failing — the login
still completes, with a clear log, never a lost login."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge.accounts.models import Identity
from idp_bridge.extensions import db
from idp_bridge.simulator.state import openid_for
from tests.login.conftest import APP_ID, Browser, scan


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "redis_url": "redis://127.0.0.1:1/0"}  # nothing listens there


def test_login_completes_when_redis_is_unreachable(live_url: str, rp: tuple[str, str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    browser = Browser(live_url)
    browser.start(rp[0])
    listener = browser.listen()
    started = time.monotonic()
    scan(live_url, browser.ticket, "Rita", "follow")
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    assert time.monotonic() - started < 5  # in-process wake-up or the database safety net
    assert "code=" in browser.finish().headers["Location"]
    assert "cross-process login notification failed" in caplog.text


@pytest.mark.parametrize("failure", [{"endpoint": "user_info", "errcode": 0, "delay": 3.0},
                                     {"endpoint": "user_info", "errcode": -1, "count": 2},
                                     {"endpoint": "user_info", "errcode": 45009}])
def test_user_info_trouble_never_fails_the_login(app: Flask, live_url: str, rp: tuple[str, str],
                                                 failure: dict[str, Any]) -> None:
    requests.post(f"{live_url}/_simulator/control/fail", json=failure, timeout=5)
    browser = Browser(live_url)
    browser.start(rp[0])
    listener = browser.listen()
    result = scan(live_url, browser.ticket, "Uma", "follow")
    assert result["status"] == "delivered"  # answered within WeChat's 5 s even with a slow user/info
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    with app.app_context():
        identity = db.session.scalar(db.select(Identity).where(Identity.openid == openid_for(APP_ID, "Uma")))
        assert identity is not None and identity.unionid is None  # filled in on a later login
