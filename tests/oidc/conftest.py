"""Fixtures for provider tests: a connection, applications, a user, and a driven browser login."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.oidc.registration import create_client
from idp_bridge.wechat.connections import create_connection
from idp_bridge.wechat.models import Connection
from tests.support import seam as seam_driver

REDIRECT = "http://127.0.0.1:9/callback"
ORIGIN = "http://127.0.0.1:9"


@dataclass
class Rp:
    """A registered application as the tests see it."""

    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT


@dataclass
class Login:
    """The outcome of one browser login up to the client's redirect."""

    response: requests.Response
    params: dict[str, str]
    verifier: str
    nonce: str
    state: str
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def connection_id(app: Flask) -> int:
    with app.app_context():
        row = create_connection(app.config["SECRET_KEY"], identifier="acme", display_name="ACME",
                                app_id="wx0123456789abcdef", app_secret="0123456789abcdef0123456789abcdef",
                                token="Token123", encryption="plaintext")
        return row.id


def _make_client(app: Flask, redirect_uri: str = REDIRECT, **kw: Any) -> Rp:
    with app.app_context():
        client, secret = create_client(kw.pop("name", "Shop"), [redirect_uri],
                                       post_logout_redirect_uris=[ORIGIN + "/bye"], web_origins=[ORIGIN], **kw)
        return Rp(client.client_id, secret, redirect_uri)


@pytest.fixture
def rp(app: Flask) -> Rp:
    return _make_client(app)


@pytest.fixture
def public_rp(app: Flask) -> Rp:
    return _make_client(app, name="SPA", public=True)


@pytest.fixture
def make_rp(app: Flask) -> Any:
    return lambda **kw: _make_client(app, **kw)


@pytest.fixture
def user_id(app: Flask, connection_id: int) -> int:
    return seam_driver.make_user(app, connection_id=connection_id, name="Zhang San")


def query_of(response: requests.Response) -> dict[str, str]:
    location = response.headers.get("Location", "")
    parts = urlsplit(location)
    raw = parts.fragment if parts.fragment and not parts.query else parts.query
    return {k: v[0] for k, v in parse_qs(raw).items()}


@pytest.fixture
def browser() -> requests.Session:
    return requests.Session()


@pytest.fixture
def login(app: Flask, live_url: str, browser: requests.Session, connection_id: int, user_id: int) -> Any:
    """Run authorize → (login through the seam) → client redirect; returns a ``Login``."""

    def run(rp: Rp, *, scope: str = "openid profile offline_access", extra: dict[str, str] | None = None,
            as_user: int | None = None, expect_login: bool = True) -> Login:
        verifier = secrets.token_urlsafe(48)
        nonce, state = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
                  "scope": scope, "state": state, "nonce": nonce,
                  "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        params.update(extra or {})
        response = browser.get(f"{live_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
        if expect_login:
            assert response.status_code == 303, response.text
            pending = seam_driver.pending_id_from(response)
            response = seam_driver.complete(app, browser, live_url, pending, as_user or user_id, connection_id)
        return Login(response, query_of(response), verifier, nonce, state)

    return run


def rp_session(rp: Rp, live_url: str) -> OAuth2Session:
    """Authlib's own OAuth 2 client, as a relying party would use it."""
    auth = "none" if rp.secret is None else "client_secret_basic"
    return OAuth2Session(rp.client_id, rp.secret, redirect_uri=rp.redirect_uri, token_endpoint_auth_method=auth)


def redeem(rp: Rp, live_url: str, done: Login) -> dict[str, Any]:
    session = rp_session(rp, live_url)
    return dict(session.fetch_token(f"{live_url}/oauth/token", code=done.params["code"],
                                    code_verifier=done.verifier))


def connections_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Connection)) or 0
