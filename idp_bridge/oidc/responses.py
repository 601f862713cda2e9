"""Authorization responses in every ``response_mode`` (query, fragment, form_post, web_message), with ``iss``.

Authlib's code grant ignores ``response_mode`` (OAuth 2.0 Multiple Response Types §2.1, Form Post Response
Mode) and its error responses skip the RFC 9207
hook, so both successes and errors pass through :func:`respond` here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import render_template, request
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings
from idp_bridge.oidc.models import ClientRules

RESPONSE_MODES = ("query", "fragment", "form_post", "web_message")


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def web_message_origin(client: ClientRules, redirect_uri: str) -> str | None:
    """The registered web origin of ``redirect_uri``: the only target ``web_message`` may post to."""
    origin = origin_of(redirect_uri)
    return origin if origin in client.web_origins else None


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def respond(client: ClientRules, redirect_uri: str, params: Mapping[str, str | None], response_mode: str) -> Response:
    """Deliver ``params`` (code/state or error) to the client per ``response_mode``; adds ``iss``."""
    delivered = {k: v for k, v in params.items() if v is not None}
    delivered["iss"] = current_settings().issuer
    status = 303 if request.method == "POST" else 302
    if response_mode == "form_post":
        response = Response(render_template("oidc/form_post.html", action=redirect_uri, params=delivered),
                            mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin_of(redirect_uri)}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return _no_store(response)
    if response_mode == "web_message":
        target = web_message_origin(client, redirect_uri) or "null"
        body = {"type": "authorization_response", "response": delivered}
        response = Response(render_template("oidc/web_message.html", target_origin=target,
                                            message=json.dumps(body)), mimetype="text/html")
        return _no_store(response)
    if response_mode == "fragment":
        location = redirect_uri.split("#", 1)[0] + "#" + urlencode(delivered)
    else:
        location = query_location(redirect_uri, delivered)
    response = Response(status=status, headers={"Location": location})
    return _no_store(response)


def query_location(redirect_uri: str, delivered: Mapping[str, str]) -> str:
    """``redirect_uri`` with ``delivered`` added to its own query (RFC 6749 §3.1.2, response_mode=query)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(delivered.items())
    return parts._replace(query=urlencode(query)).geturl()


def error_page(code: str, description: str, status: int = 400) -> Response:
    """An error the client must not receive (RFC 6749 §4.1.2.1: unknown client or unvalidated redirect URI),
    shown to the user instead. ``description`` is always our own text, never request input."""
    body = render_template("errors/error.html", status=status, code=code, description=description)
    return _no_store(Response(body, status=status, mimetype="text/html"))


def params_from_location(location: str, redirect_uri: str) -> dict[str, str]:
    """The parameters Authlib put on a redirect to ``redirect_uri`` (its success path), to re-deliver in our
    response mode. Authlib appends them to the redirect URI's own query (RFC 6749 §3.1.2 keeps that query), so
    they are what follows the URI's own pairs; :func:`respond` adds them to it once."""
    own = parse_qsl(urlsplit(redirect_uri).query, keep_blank_values=True)
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True)[len(own):])
