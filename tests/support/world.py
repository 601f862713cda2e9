"""A small, real world for hostile-input tests: a WeChat connection, a registered application, a browser
that has started an authorization and opened the hosted login page (so it holds a pending authorization, a
login session and their cookies), and a second browser that is signed in (an SSO session).

Everything is made through the app's own functions and real HTTP, so the requests built on it reach the
code behind the first lookups (OIDC Core §3.1.2 authorization, SPEC §7 login page and status stream).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from idp_bridge.oidc.registration import create_client
from idp_bridge.wechat.connections import create_connection
from tests.support import seam as seam_driver

REDIRECT = "http://127.0.0.1:9/callback"
ORIGIN = "http://127.0.0.1:9"
CONNECTION = "acme"
AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@dataclass
class World:
    base: str
    client_id: str
    secret: str
    pending_id: str
    login_session: str
    ticket: str
    browser_cookies: str
    sso_cookies: str
    verifier: str

    @property
    def basic(self) -> str:
        """``Authorization`` for the confidential client (RFC 6749 §2.3.1)."""
        return "Basic " + base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()

    def authorize_params(self) -> dict[str, str]:
        """A valid authorization request (OIDC Core §3.1.2.1) for this application."""
        return {"response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT, "scope": "openid",
                "state": "st", "nonce": "nn", "code_challenge": create_s256_code_challenge(self.verifier),
                "code_challenge_method": "S256"}


def _cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def build_world(app: Flask, base: str) -> World:
    """Create the connection, the application, one waiting browser and one signed-in browser."""
    with app.app_context():
        connection = create_connection(app.config["SECRET_KEY"], identifier=CONNECTION, display_name="ACME 服务号",
                                       app_id="wx0123456789abcdef", app_secret="0123456789abcdef0123456789abcdef",
                                       token="Token123", encryption="safe", encoding_aes_key=AES,
                                       scene_prefix="acme_")
        connection_id = connection.id
        client, secret = create_client("ACME Shop", [REDIRECT], post_logout_redirect_uris=[ORIGIN + "/bye"],
                                       web_origins=[ORIGIN], try_page=True)
        client_id = client.client_id
    world = World(base=base, client_id=client_id, secret=secret or "", pending_id="", login_session="",
                  ticket="", browser_cookies="", sso_cookies="", verifier=secrets.token_urlsafe(48))

    waiting = requests.Session()
    first = waiting.get(f"{base}/oauth/authorize", params=world.authorize_params(), allow_redirects=False,
                        timeout=10)
    assert first.status_code in (302, 303), (first.status_code, first.text[:300])
    world.pending_id = seam_driver.pending_id_from(first)
    page = waiting.get(f"{base}/login/{world.pending_id}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    match = re.search(r"ls=([A-Za-z0-9_-]+)", page.text)
    world.login_session = match.group(1) if match else ""
    ticket = re.search(r"/_simulator/qr/([A-Za-z0-9_-]+)", page.text)
    world.ticket = ticket.group(1) if ticket else ""
    world.browser_cookies = _cookie_header(waiting)

    signed_in = requests.Session()
    second = signed_in.get(f"{base}/oauth/authorize", params=world.authorize_params(), allow_redirects=False,
                           timeout=10)
    user_id = seam_driver.make_user(app, openid="oHOSTILE1", unionid=None, name="张三",
                                    connection_id=connection_id)
    done = seam_driver.complete(app, signed_in, base, seam_driver.pending_id_from(second), user_id,
                                connection_id=connection_id)
    assert done.status_code in (302, 303) and urlsplit(done.headers["Location"]).netloc == "127.0.0.1:9", (
        done.status_code, done.headers.get("Location"))
    world.sso_cookies = _cookie_header(signed_in)
    return world


def world_summary(world: World) -> dict[str, Any]:
    """What a failing test prints about the world (no secrets)."""
    return {"client_id": world.client_id, "pending_id": world.pending_id, "login_session": world.login_session}
