"""CSRF protection for the HTML forms we render (consent, logout confirmation, binding code).

A random token lives in the signed Flask session cookie and in a hidden field; views call
:func:`verify` on POST. OAuth endpoints and the WeChat callback never use it: they are not browser forms.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, session
from werkzeug.exceptions import BadRequest

from idp_bridge.config import settings_of

FIELD = "csrf_token"


def token() -> str:
    value = session.get(FIELD)
    if not isinstance(value, str) or len(value) != 43:
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def verify(submitted: str | None) -> None:
    """Refuse a form POST whose token does not match this browser's (400, nothing changed)."""
    expected = session.get(FIELD)
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(expected, submitted):
        raise BadRequest("The form expired or did not come from this site. Go back, reload and try again.")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = token
    https = str(settings_of(app).issuer).startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="__Host-idpb_session" if https else "idpb_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
    )
