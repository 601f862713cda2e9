"""Test-only driver of the login seam (the seam of SPEC §7.6): completes a pending login for a user by calling
``seam.complete_login`` inside a request context that carries the browser's cookies — never over HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from flask import Flask

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.oidc import seam


def make_user(app: Flask, *, openid: str = "oOPENID1", unionid: str | None = "uUNION1", name: str | None = None,
              connection_id: int | None = None) -> int:
    """A user with one WeChat identity; returns the user id."""
    with app.app_context():
        user = User(name=name)
        db.session.add(user)
        db.session.flush()
        if connection_id is not None:
            db.session.add(Identity(user_id=user.id, connection_id=connection_id, openid=openid, unionid=unionid))
        db.session.commit()
        return user.id


def pending_id_from(response: requests.Response) -> str:
    """The pending authorization id from authorize's redirect to the login page."""
    location = response.headers["Location"]
    path = urlsplit(location).path
    assert path.startswith("/login/"), location
    return path.rsplit("/", 1)[-1]


def complete(app: Flask, session: requests.Session, base_url: str, pending_id: str, user_id: int,
             connection_id: int | None = None) -> requests.Response:
    """Finish the login in this browser, then follow the redirects up to (not into) the client."""
    cookie_header = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    with app.test_request_context(f"/login/{pending_id}", base_url=base_url, headers={"Cookie": cookie_header}):
        response = seam.complete_login(pending_id, user_id, connection_id=connection_id)
        location = response.headers.get("Location", "")
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            session.cookies.set(name, rest.split(";", 1)[0], domain=urlsplit(base_url).hostname, path="/")
    target = location if location.startswith("http") else base_url + location
    return session.get(target, allow_redirects=False, timeout=10)
