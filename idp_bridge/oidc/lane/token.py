"""``POST /oauth/token`` with ``grant_type=authorization_code``, answered on the loop (RFC 6749 §4.1.3,
OIDC Core §3.1.3).

Taken only when the threaded endpoint (``oidc.token``) would answer with tokens: an ordinary form (at most the
fields in :data:`ACCEPTED`, none repeated), no ``Origin`` (CORS stays with the threaded path), a client that
Authlib authenticates with the same grant class and methods and that is not locked out (``oidc.lockout``), and
PKCE with S256. The code is then spent by one statement whose conditions are every check the threaded path
makes of the code (``tokens.CONSUME_IF_VALID``): live, this client's, unused, the same redirect URI, the
verifier's S256 equal to the challenge, an active user. When any fails the statement changes nothing and the
request goes to the threaded path, which spends the code itself and gives the right error (or revokes, on a
replay). Once the code is spent here, the rest is Authlib's: its PKCE hook, token generator and OpenID Connect
extension (the ID token); the tokens are saved by the same statement as on the threaded path, which stores
nothing once a replay has marked the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN

from idp_bridge.oidc import keystore, lockout, tokens
from idp_bridge.oidc.grants import AuthorizationCodeGrant, id_token_alg, token_values
from idp_bridge.oidc.lane.http import Answer, Incoming, json_body
from idp_bridge.oidc.server import OAuth2RequestOf, authorization_server
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

if TYPE_CHECKING:
    from idp_bridge.oidc.lane import Lane

ENDPOINT = "oidc.token"
ACCEPTED = frozenset({"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"})
FORM = "application/x-www-form-urlencoded"
CODE_LIMIT = 256  # as grants.AuthorizationCodeGrant.query_authorization_code
UNAVAILABLE = {"error": "temporarily_unavailable",
               "error_description": "The service is temporarily unavailable. Please try again in a moment."}


def plain_request(incoming: Incoming) -> dict[str, str] | None:
    """The form of a code exchange this lane may take, else None."""
    request = incoming.request
    if request.mimetype != FORM or request.headers.get("Origin") is not None or request.args:
        return None
    if lockout.malformed_authorization(request.headers.get("Authorization")):
        return None
    form = request.form
    names = set(form)
    if not names <= ACCEPTED or any(len(form.getlist(name)) > 1 for name in names):
        return None
    fields = form.to_dict(flat=True)
    if fields.get("grant_type") != "authorization_code" or not fields.get("redirect_uri"):
        return None
    code, verifier = fields.get("code", ""), fields.get("code_verifier", "")
    if not code or len(code) > CODE_LIMIT or not CODE_VERIFIER_PATTERN.match(verifier):
        return None
    return fields


async def token(lane: Lane, incoming: Incoming) -> Answer | None:
    """The token response for a plain code exchange, or None to leave the request to the threaded path."""
    fields = plain_request(incoming)
    if fields is None:
        return None
    key = lockout.claimed_key(incoming.request.authorization, fields.get("client_id", ""),
                              incoming.request.remote_addr)
    if key and lockout.locked(key):
        return None  # the threaded path answers 429
    request = OAuth2RequestOf(incoming.request)
    server = authorization_server()
    try:
        grant = server.get_token_grant(request)
        if type(grant) is not AuthorizationCodeGrant:
            return None
        client = grant.authenticate_token_endpoint_client()
    except OAuth2Error:
        return None  # the threaded path answers it and counts a failed authentication
    if not client.check_grant_type(AuthorizationCodeGrant.GRANT_TYPE):
        return None
    keystore.signing_key(id_token_alg(client))  # in memory before the code is spent (else NotCached: threaded path)
    params = {"digest": digest(fields["code"]), "b_client_id": client.client_id, "now": utcnow(),
              "b_redirect_uri": fields["redirect_uri"], "b_code_challenge_method": "S256",
              "b_code_challenge": create_s256_code_challenge(fields["code_verifier"])}
    async with lane.pool.connection() as conn:
        rows = await lane.pool.rows(conn, lane.sql.consume_if_valid, params)
        if not rows:
            return None
        # The code is spent: from here on this lane answers, as the threaded path would.
        request.client = client
        request.authorization_code = tokens.code_with_user(rows)
        try:
            return await _issue(lane, conn, grant, request)
        except OAuth2Error as error:
            status, body, headers = error()
            return Answer(status, [*headers], json_body(dict(body)))
        except psycopg.Error:
            return Answer(503, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                ("Retry-After", "5")], json_body(UNAVAILABLE))


async def _issue(lane: Lane, conn: Any, grant: AuthorizationCodeGrant, request: OAuth2RequestOf) -> Answer:
    """Authlib's steps after the code was found (``validate_token_request``'s hooks, then
    ``create_token_response`` with the tokens saved here)."""
    grant.execute_hook("after_validate_token_request", None)  # PKCE (RFC 7636 §4.6), Authlib's own check
    authorization_code = request.authorization_code
    user = grant.authenticate_user(authorization_code)
    if user is None:
        raise InvalidGrantError("There is no 'user' for this code.")
    request.user = user
    scope = authorization_code.get_scope()
    token = grant.generate_token(user=user, scope=scope,
                                 include_refresh_token=request.client.check_grant_type("refresh_token"))
    saved = await lane.pool.run(conn, lane.sql.save_code_tokens, tokens.save_code_tokens_params(
        token_values(token, request)))
    if saved == 0:
        raise InvalidGrantError(tokens.REPLAYED)
    result = (200, token, grant.TOKEN_RESPONSE_HEADER)
    grant.execute_hook("after_create_token_response", result)  # the ID token (OIDC Core §3.1.3.3)
    return Answer(200, [*grant.TOKEN_RESPONSE_HEADER], json_body(token))
