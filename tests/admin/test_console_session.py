"""The console cookie's limits (SPEC §12): 30 minutes idle, 8 hours absolute, ended by revocation; the
cookie is path /admin, HttpOnly, SameSite=Lax; unauthenticated requests are sent to sign-in, never a 5xx."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge.admin import admins
from idp_bridge.admin.models import Admin, AdminSession
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow


def _session(app: Flask, **ages: timedelta) -> requests.Session:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with app.app_context():
        admin = Admin(sub="sub-admin-1", role="admin")
        db.session.add(admin)
        db.session.flush()
        db.session.add(AdminSession(digest=digest(token), admin_id=admin.id, auth_time=now,
                                    created_at=now - ages.get("created", timedelta()),
                                    last_seen_at=now - ages.get("idle", timedelta())))
        db.session.commit()
    browser = requests.Session()
    browser.cookies.set("idpb_admin", token, path="/admin")
    return browser


def _status(browser: requests.Session, live_url: str) -> int:
    return browser.get(f"{live_url}/admin/users", allow_redirects=False, timeout=10).status_code


@pytest.mark.parametrize(("ages", "expected"), [
    ({}, 200),
    ({"idle": timedelta(minutes=29)}, 200),
    ({"idle": timedelta(minutes=31)}, 303),
    ({"created": timedelta(hours=7, minutes=59)}, 200),
    ({"created": timedelta(hours=8, minutes=1)}, 303),
])
def test_idle_and_absolute_limits(app: Flask, live_url: str, ages: dict[str, Any], expected: int) -> None:
    assert _status(_session(app, **ages), live_url) == expected


def test_revoking_the_admin_ends_the_session(app: Flask, live_url: str) -> None:
    browser = _session(app)
    assert _status(browser, live_url) == 200
    with app.app_context():
        admins.revoke("sub-admin-1")
    assert _status(browser, live_url) == 303


def test_unauthenticated_requests_go_to_signin(app: Flask, live_url: str) -> None:
    answer = requests.get(f"{live_url}/admin/users?q=x", allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/admin/signin?next=")
    start = requests.get(live_url + answer.headers["Location"], allow_redirects=False, timeout=10)
    assert start.status_code == 303 and "/oauth/authorize?" in start.headers["Location"]
    assert "code_challenge_method=S256" in start.headers["Location"]
    cookie = start.headers["Set-Cookie"]
    assert "Path=/admin" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert requests.post(f"{live_url}/admin/users/x/block", allow_redirects=False, timeout=10).status_code == 303


def test_console_off_when_disabled(app_config: dict[str, Any]) -> None:
    from idp_bridge.app import create_app

    off = create_app({**app_config, "admin": False})
    assert not any(rule.rule.startswith("/admin") for rule in off.url_map.iter_rules())
