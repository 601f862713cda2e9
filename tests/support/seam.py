"""Test-only driver of the login seam (the seam of SPEC §7.6): completes a pending login for a user through
``seam.prepare_completion`` inside a request context that carries the browser's cookies — never over HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from flask import Flask, url_for
from werkzeug.wrappers import Response

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.oidc import seam, sso
from idp_bridge.oidc.cookies import cookie_name


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
    """Finish the login in this browser, then visit the resume link over HTTP, up to (not into) the client.

    ``/login/<pid>/complete`` answers with the resumed authorization in the same request; the driver visits
    the resume link instead (the same authorize request, as the consent page also makes it), so that the
    answer is an HTTP response of the running server."""
    cookie_header = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    with app.test_request_context(f"/login/{pending_id}", base_url=base_url, headers={"Cookie": cookie_header}):
        completion = seam.prepare_completion(pending_id, user_id, connection_id=connection_id)
        assert not isinstance(completion, Response), completion.get_data(as_text=True)[:300]
        completion.record()
        db.session.commit()
        session.cookies.set(cookie_name(sso.COOKIE), completion.cookie, domain=urlsplit(base_url).hostname,
                            path="/")
        resume = url_for("oidc.authorize") + "?" + completion.resume_query
    return session.get(base_url + resume, allow_redirects=False, timeout=10)
