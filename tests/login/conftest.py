"""Fixtures for follow-login tests: the bridge with the simulator mounted, a connection, an application, and
a "browser" helper that walks authorize → login page → status stream."""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from idp_bridge.oidc.registration import create_client
from idp_bridge.wechat.connections import create_connection

AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


@pytest.fixture
def make_connection(app: Flask) -> Any:
    def make(identifier: str = "acme", **kw: Any) -> int:
        options: dict[str, Any] = {"display_name": "ACME 服务号", "app_id": APP_ID, "encryption": "safe",
                                   "encoding_aes_key": AES, "reply_text": "欢迎登录 ACME", "scene_prefix": "acme_"}
        options.update(kw)
        with app.app_context():
            return create_connection(app.config["SECRET_KEY"], identifier=identifier,
                                     app_secret="0123456789abcdef0123456789abcdef", token="Token123", **options).id
    return make


@pytest.fixture
def connection_id(make_connection: Any) -> int:
    return int(make_connection())


@pytest.fixture
def rp(app: Flask, connection_id: int) -> tuple[str, str]:
    with app.app_context():
        client, secret = create_client("ACME Shop", [REDIRECT], web_origins=["http://127.0.0.1:9"])
        return client.client_id, secret or ""


@dataclass
class Browser:
    """A requests session playing a browser through the hosted login page."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    pending_id: str = ""
    login_session: str = ""
    ticket: str = ""
    page: requests.Response | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def start(self, client_id: str, **extra: str) -> requests.Response:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
                  "state": "st", "nonce": "nn", "code_challenge": create_s256_code_challenge(self.verifier),
                  "code_challenge_method": "S256", **extra}
        first = self.session.get(f"{self.base}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
        if first.status_code != 303:
            return first
        self.pending_id = first.headers["Location"].rsplit("/", 1)[-1]
        return self.open_page()

    def open_page(self, **query: str) -> requests.Response:
        self.page = self.session.get(f"{self.base}/login/{self.pending_id}", params=query, timeout=10)
        match = re.search(r'data-events-url="[^"]*ls=([A-Za-z0-9_-]+)"', self.page.text)
        self.login_session = match.group(1) if match else ""
        ticket = re.search(r"/_simulator/qr/([A-Za-z0-9_-]+)", self.page.text)
        self.ticket = ticket.group(1) if ticket else ""
        return self.page

    def listen(self, until: tuple[str, ...] = ("succeeded", "refused", "expired", "binding", "confirm")
               ) -> threading.Thread:
        """Read the status stream in the background, recording every state event until one of ``until``."""
        url = f"{self.base}/login/{self.pending_id}/events"

        def run() -> None:
            with self.session.get(url, params={"ls": self.login_session}, stream=True, timeout=30) as response:
                for line in response.iter_lines(decode_unicode=True):
                    if line and line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
                        if self.events[-1]["state"] in until:
                            return

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def scanned(self, user: str, action: str = "follow") -> dict[str, Any]:
        """``user`` scans this page's QR code while the page listens; returns what the phone saw."""
        listener = self.listen()
        result = scan(self.base, self.ticket, user, action)
        listener.join(10)
        return result

    def finish(self) -> requests.Response:
        """Follow the completion link from the last event until the client's redirect."""
        nxt = self.events[-1]["next"]
        response = self.session.get(self.base + nxt, allow_redirects=False, timeout=10)
        while response.status_code in (302, 303) and response.headers["Location"].startswith(("/", self.base)):
            location = response.headers["Location"]
            response = self.session.get(location if location.startswith("http") else self.base + location,
                                        allow_redirects=False, timeout=10)
        return response


def client_params(response: requests.Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers.get("Location", "")).query).items()}


def scan(base: str, ticket: str, user: str = "Alice", action: str = "follow") -> dict[str, Any]:
    return dict(requests.post(f"{base}/_simulator/api/scan", json={"ticket": ticket, "user": user, "action": action},
                              timeout=10).json())


def binding_login(app: Flask, live_url: str, make_connection: Any, cli_run: Any, name: str,
                  **connection: Any) -> tuple[Browser, str, dict[str, Any]]:
    """A binding connection (``association=binding`` plus ``connection`` options), an application using it,
    a pre-created user ``name`` with a one-time binding code, and a browser on the login page.
    Returns the browser, the code and the user as the CLI shows it."""
    import json

    from idp_bridge.oidc.registration import create_client

    make_connection("partners", association="binding", scene_prefix="par_", **connection)
    with app.app_context():
        client_id = create_client("Partners", [REDIRECT], connections=["partners"])[0].client_id
    user = json.loads(cli_run("user", "create", "--name", name, "--json").output)
    code = json.loads(cli_run("user", "invite", user["sub"], "--json").output)["binding_code"]
    browser = Browser(live_url)
    browser.start(client_id)
    return browser, code, user


def confirm_login(app: Flask, live_url: str, make_connection: Any) -> Browser:
    """A connection with confirm-in-WeChat, the application "Bank" using it, and a browser on its login page."""
    from idp_bridge.oidc.registration import create_client

    make_connection("careful", confirm_in_wechat=True, scene_prefix="cf_", reply_text=None)
    with app.app_context():
        client_id = create_client("Bank", [REDIRECT], connections=["careful"])[0].client_id
    browser = Browser(live_url)
    browser.start(client_id)
    return browser
