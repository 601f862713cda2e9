"""``GET /oauth/authorize`` of a signed-in browser, answered on the loop (OIDC Core §3.1.2).

Taken only in the plainest case, where the threaded endpoint (``oidc.authorize``) would run every one of its
checks, use the SSO session and answer with a code: ``response_type=code`` with an S256 challenge, at most the
parameters in :data:`ACCEPTED` (so no ``prompt``, ``max_age``, ``id_token_hint``, ``response_mode`` or request
object), none repeated, a first-party application, an SSO cookie. The request is then validated by Authlib
itself — the same grant class, extensions and hooks as the threaded path (client, redirect URI, scope, PKCE
challenge, nonce) — and the code is written by one statement that finds the browser's live session of an
active user and takes the user, ``auth_time``, ``sid`` and connection from it
(``grants.INSERT_CODE_FOR_SESSION``). That is the whole of this request's database work: one round trip.

Authlib validates here before the user is known. Without ``prompt`` (never taken here) its validation does not
depend on the user: its only use of it is to note that a request without a user will need a login, which the
statement then decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2 import OAuth2Error

from idp_bridge.oidc import sso
from idp_bridge.oidc.client_cache import find_client
from idp_bridge.oidc.cookies import cookie_name
from idp_bridge.oidc.grants import code_request_values, session_code_params
from idp_bridge.oidc.lane.http import NO_STORE, Answer, Incoming
from idp_bridge.oidc.responses import query_location
from idp_bridge.oidc.server import OAuth2RequestOf, authorization_server

if TYPE_CHECKING:
    from idp_bridge.oidc.lane import Lane

ENDPOINT = "oidc.authorize"
ACCEPTED = frozenset({"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                      "code_challenge_method"})
REQUIRED = ("client_id", "redirect_uri", "scope", "code_challenge")
COOKIE_LIMIT = 256  # as oidc.cookies.read_cookie


def plain_request(incoming: Incoming) -> dict[str, str] | None:
    """The parameters of an authorization request this lane may take, else None (control characters, which
    ``oidc.authorize`` refuses too, never get here: the input gate's checks refused them first)."""
    args = incoming.request.args
    names = set(args)
    if not names <= ACCEPTED or any(len(args.getlist(name)) > 1 for name in names):
        return None
    params = args.to_dict(flat=True)
    if any(not params.get(name) for name in REQUIRED):
        return None
    if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
        return None
    if "openid" not in params["scope"].split():
        return None
    return params


async def authorize(lane: Lane, incoming: Incoming) -> Answer | None:
    """The code for a plain request of a signed-in browser, or None to leave the request to the threaded
    path (which then answers it, whatever it is, from the start)."""
    params = plain_request(incoming)
    if params is None:
        return None
    client = find_client(params["client_id"])
    if client is None or client.third_party:  # consent is the threaded path's (OIDC Core §3.1.2.4)
        return None
    cookie = incoming.request.cookies.get(cookie_name(sso.COOKIE))
    if not cookie or len(cookie) > COOKIE_LIMIT:
        return None
    request = OAuth2RequestOf(incoming.request)
    try:
        grant = authorization_server().get_authorization_grant(request)
        grant.validate_no_multiple_request_parameter(request)
        redirect_uri = grant.validate_consent_request()
    except OAuth2Error:
        return None
    code = grant.generate_authorization_code()
    async with lane.pool.connection() as conn:
        written = await lane.pool.run(conn, lane.sql.insert_code_for_session,
                                      session_code_params(code_request_values(code, request), cookie))
    if written != 1:
        return None  # no live session of an active user: the threaded path sends the browser to sign in
    delivered = {"code": code}
    if params.get("state"):
        delivered["state"] = params["state"]
    delivered["iss"] = lane.issuer
    return Answer(302, [("Location", query_location(redirect_uri, delivered)), *NO_STORE,
                        ("Content-Type", "text/plain; charset=utf-8")])
