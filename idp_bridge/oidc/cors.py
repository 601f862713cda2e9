"""CORS for browser-based clients (SPEC §8): discovery and JWKS for any origin; token, userinfo and
revocation only for origins some application registered."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from idp_bridge.extensions import db
from idp_bridge.oidc.models import Client

PUBLIC_PATHS = ("/.well-known/openid-configuration", "/oauth/jwks", "/.well-known/jwks.json")
CLIENT_PATHS = ("/oauth/token", "/oauth/userinfo", "/oauth/revoke")


def _registered(origin: str) -> bool:
    return any(origin in (c.web_origins or []) for c in db.session.scalars(db.select(Client)))


def add_cors_headers(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if not origin or len(origin) > 300:
        return response
    if request.path in PUBLIC_PATHS:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif request.path in CLIENT_PATHS and _registered(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    else:
        return response
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return response
