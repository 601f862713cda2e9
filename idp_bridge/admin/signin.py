"""Console sign-in by dogfooding (SPEC §12): the console is a first-party public OIDC client of this bridge,
created on first use, and signs admins in through ``/oauth/authorize`` with PKCE (RFC 7636, S256), ``state``
and ``nonce`` (OIDC Core §3.1.2.1), ``max_age`` for the fresh-sign-in rule (OIDC Core §3.1.2.1 / §2 auth_time).

The code is exchanged **in-process** through the application's own WSGI stack (Werkzeug's client against
``/oauth/token``): the very endpoint, grant and client checks every relying party meets, without needing the
public issuer URL to be reachable from inside the server (hairpin NAT, TLS ending at a proxy, split DNS). The
ID token is then verified like any RP would: signature against our JWKS, ``iss``, ``aud``, ``nonce``, ``exp``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc import keystore
from idp_bridge.oidc.models import Client
from idp_bridge.oidc.registration import create_client, get_client, update_client

CLIENT_ID = "idp-bridge-console"
CLIENT_NAME = "idp-bridge console"
FLOW_COOKIE = "idpb_admin_flow"
FLOW_SECONDS = 600
PATH = "/admin"


def redirect_uri() -> str:
    return f"{current_settings().issuer}/admin/callback"


def ensure_client() -> Client:
    """The console's own application: public (PKCE, nothing secret to store), first-party (no consent screen),
    redirect URI following the configured issuer."""
    client = get_client(CLIENT_ID)
    if client is None:
        client, _ = create_client(CLIENT_NAME, [redirect_uri()], public=True)
        client.client_id = CLIENT_ID
        db.session.commit()
    elif client.redirect_uris != [redirect_uri()]:
        update_client(client, redirect_uris=[redirect_uri()])
    return client


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="idpb-admin-flow")


def begin(next_path: str, invite: str | None, fresh: bool) -> Response:
    """Redirect to our own authorization endpoint; the flow's secrets wait in a signed, short-lived cookie."""
    ensure_client()
    flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48), "next": safe_next(next_path), "invite": invite}
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri(), "scope": "openid",
              "state": flow["state"], "nonce": flow["nonce"], "code_challenge_method": "S256",
              "code_challenge": create_s256_code_challenge(flow["verifier"])}
    if fresh:
        params["max_age"] = "300"
    response = Response(status=303, headers={"Location": f"{current_settings().issuer}/oauth/authorize?"
                                                         + urlencode(params), "Cache-Control": "no-store"})
    response.set_cookie(FLOW_COOKIE, _serializer().dumps(flow), path=PATH, max_age=FLOW_SECONDS, httponly=True,
                        secure=current_settings().issuer.startswith("https://"), samesite="Lax")
    return response


def safe_next(value: str | None) -> str:
    """Only a console path: never an open redirect (RFC 9700 §4.11)."""
    if isinstance(value, str) and value.startswith("/admin/") and "//" not in value and "\\" not in value:
        return value
    return "/admin/"


class SignInFailed(Exception):
    """The callback did not prove a sign-in (bad state, refused, bad token)."""


def finish() -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the callback against the flow cookie, exchange the code, verify the ID token.
    Returns (flow, claims)."""
    try:
        flow = _serializer().loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_SECONDS)
    except BadSignature:
        raise SignInFailed("expired") from None
    if not isinstance(flow, dict) or request.args.get("state") != flow.get("state"):
        raise SignInFailed("state")
    code = request.args.get("code")
    if not code or request.args.get("iss") not in (None, current_settings().issuer):
        raise SignInFailed(request.args.get("error") or "code")
    tokens = _exchange(code, str(flow["verifier"]))
    claims = _verify(tokens.get("id_token"), str(flow["nonce"]))
    return flow, claims


def _exchange(code: str, verifier: str) -> dict[str, Any]:
    issuer = current_settings().issuer
    with current_app.test_client() as http:
        answer = http.post("/oauth/token", base_url=issuer + "/", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(),
            "client_id": CLIENT_ID, "code_verifier": verifier})
    if answer.status_code != 200 or not isinstance(answer.json, dict):
        raise SignInFailed("token")
    return dict(answer.json)


def _verify(id_token: object, nonce: str) -> dict[str, Any]:
    if not isinstance(id_token, str):
        raise SignInFailed("id_token")
    try:
        claims = dict(jwt.decode(id_token, keystore.public_keyset()).claims)
    except (JoseError, ValueError):
        raise SignInFailed("id_token") from None
    now = datetime.now(UTC).timestamp()
    if (claims.get("iss") != current_settings().issuer or claims.get("aud") not in (CLIENT_ID, [CLIENT_ID])
            or claims.get("nonce") != nonce or not isinstance(claims.get("exp"), int) or claims["exp"] < now
            or not isinstance(claims.get("sub"), str) or not isinstance(claims.get("auth_time"), int)):
        raise SignInFailed("claims")
    return claims


def clear_flow(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=PATH, httponly=True, samesite="Lax",
                           secure=current_settings().issuer.startswith("https://"))
