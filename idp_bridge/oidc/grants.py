"""Authlib grants and extensions, customised only through their hooks (DESIGN example 5).

Every override below enforces a rule Authlib's defaults leave out; its docstring names the standard.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from sqlalchemy import bindparam, insert, select

from idp_bridge import autocommit
from idp_bridge.accounts.models import User
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc import keystore, sso, tokens
from idp_bridge.oidc.models import AuthorizationCode, ClientRules, SsoSession, Token
from idp_bridge.oidc.principal import Principal, load_user, user_claims
from idp_bridge.oidc.tokens import CodeRecord
from idp_bridge.plainsql import Plain
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# Built once: constructing a statement per request costs more CPU than sending it (SPEC §16).
CODE_COLUMNS = ("code_digest", "client_id", "user_id", "redirect_uri", "scope", "nonce", "code_challenge",
                 "code_challenge_method", "auth_time", "sid", "connection_id", "issued_at", "expires_at")
INSERT_CODE = Plain(insert(AuthorizationCode.__table__), column_keys=CODE_COLUMNS)
_INSERT_TOKEN = Plain(insert(Token.__table__), column_keys=tokens.CODE_TOKEN_COLUMNS)


def _settings() -> Any:
    return current_settings()


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; a public client without a challenge is refused at authorize (RFC 9700 §2.1.1, SPEC §4)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "plain"  # what RFC 7636 says a missing method means: refused below
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        client: ClientRules = grant.request.client
        if client.public and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Codes stored as digests with their own ≤ 60 s expiry, not derived from ``auth_time``
    (RFC 6749 §4.1.2), consumed atomically so a replay is caught (RFC 6749 §4.1.2, §10.5)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS  # public clients use 'none' (RFC 7636, OIDC Core §9)

    def generate_authorization_code(self) -> str:
        return tokens.new_token_value()

    def validate_authorization_request(self) -> str:
        """Validated once per grant: the authorization endpoint checks the request (``get_consent_grant``) and
        then answers on the same grant and request object, where Authlib would run every check and hook a
        second time; nothing changes the request in between (RFC 6749 §4.1.1 is checked once, as written)."""
        if self.redirect_uri is None:
            return str(super().validate_authorization_request())
        return str(self.redirect_uri)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """One plain INSERT (no ORM unit of work: nothing reads the row back in this request), committed with
        what the request already changed (a resumed login, a consent) or, on the SSO path, on its own."""
        autocommit.write(INSERT_CODE, code_values(code, request))

    def query_authorization_code(self, code: str, client: ClientRules) -> CodeRecord | None:
        if not isinstance(code, str) or len(code) > 256:
            return None
        return tokens.consume_code(code, client)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Already consumed by ``query_authorization_code``, in the transaction that saves the tokens (see
        ``tokens.consume_code``): a racing replay waits for it, then revokes them."""

    def authenticate_user(self, authorization_code: CodeRecord) -> Principal | None:
        """The user the code was issued for, read when it was consumed (``None``: gone or blocked)."""
        user = authorization_code.user
        if user is None:
            return None
        return Principal(user, authorization_code.auth_time, authorization_code.sid, authorization_code.connection_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; reuse of a rotated token revokes its whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 256:
            return None
        found = tokens.find_token(refresh_token)
        if found is None or found[1] != "refresh_token":
            return None
        row = found[0]
        if row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            tokens.revoke_family(row.family_id)
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        return row

    def authenticate_user(self, refresh_token: Token) -> Principal | None:
        user = load_user(refresh_token.user_id)
        if user is None:
            return None
        return Principal(user, refresh_token.auth_time, refresh_token.sid, refresh_token.connection_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        tokens.rotate_refresh(refresh_token)


def id_token_alg(client: ClientRules) -> str:
    """The algorithm of the client's ID tokens (OIDC Registration ``id_token_signed_response_alg``)."""
    return client.id_token_signed_response_alg or "RS256"


class IdTokenClaims:
    """Shared ID-token rules for the code and refresh extensions (OIDC Core §2 ``iss``/``aud``, §12.2 refresh,
    signed with the active key named by ``kid`` (RFC 7515 §4.1.4))."""

    def resolve_client_private_key(self, client: ClientRules) -> Any:
        return keystore.signing_key(self.get_client_algorithm(client))

    def get_client_algorithm(self, client: ClientRules) -> str:
        return id_token_alg(client)

    def get_encode_header(self, client: ClientRules) -> dict[str, str]:
        key = keystore.signing_key(self.get_client_algorithm(client))
        return {"alg": self.get_client_algorithm(client), "kid": key.kid or "", "typ": "JWT"}

    def get_client_claims(self, client: ClientRules) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": _settings().issuer, "aud": client.client_id, "iat": now,
                "exp": now + _settings().id_token_lifetime}

    def get_compatible_claims(self, request: OAuth2Request) -> dict[str, Any]:
        claims = self.get_client_claims(request.client)
        principal: Principal = request.user
        claims["auth_time"] = principal.auth_time
        if principal.sid:
            claims["sid"] = principal.sid
        return claims

    def generate_user_info(self, user: Principal, scope: str) -> dict[str, str]:
        return user_claims(user.user, user.connection_id, scope)


class OpenIDCode(IdTokenClaims, oidc_grants.OpenIDCode):
    """ID tokens for the code grant. Nonce uniqueness is not enforced: OIDC Core §15.5.2 makes
    the nonce the client's check, and a retried request may legitimately repeat it."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False


class OpenIDRefresh(IdTokenClaims, oidc_grants.OpenIDToken):
    """ID tokens on refresh keep the original ``auth_time``, ``sid`` and ``sub`` (OIDC Core §12.2)."""


class TokenGenerator(BearerTokenGenerator):
    """Refresh tokens only for the ``offline_access`` scope."""

    def generate(self, grant_type: str, client: ClientRules, user: Any = None, scope: str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        wants_refresh = include_refresh_token and "offline_access" in (scope or "").split()
        return super().generate(grant_type, client, user, scope, expires_in, wants_refresh)


def code_values(code: str, request: OAuth2Request) -> dict[str, Any]:
    """The row of a new authorization code (:data:`CODE_COLUMNS`) for a validated request and its user."""
    principal: Principal = request.user
    return {**code_request_values(code, request), "user_id": principal.user.id, "auth_time": principal.auth_time,
            "sid": principal.sid, "connection_id": principal.connection_id}


def code_request_values(code: str, request: OAuth2Request) -> dict[str, Any]:
    """What a new code's row takes from the validated request (the rest comes from the sign-in)."""
    data = request.payload.data
    now = utcnow()
    return dict(
        code_digest=digest(code),
        client_id=request.client.client_id,
        redirect_uri=request.payload.redirect_uri,
        scope=request.scope or "",
        nonce=data.get("nonce"),
        code_challenge=data.get("code_challenge"),
        code_challenge_method=data.get("code_challenge_method"),
        issued_at=now,
        expires_at=now + timedelta(seconds=_settings().code_lifetime),
    )


_CODES = AuthorizationCode.__table__
_SESSIONS, _USERS = SsoSession.__table__, User.__table__
_FROM_SESSION = {"user_id": _SESSIONS.c.user_id, "auth_time": _SESSIONS.c.auth_time, "sid": _SESSIONS.c.sid,
                 "connection_id": _SESSIONS.c.connection_id}
#: A code for the browser's live SSO session of an active user, written in the same statement that finds the
#: session (``sso.LIVE_SESSION``, the conditions of ``sso.CURRENT_LOGIN``): for a request whose answer does not
#: depend on who the user is beyond that (the event-loop path, ``oidc.lane.authorize``). Writes nothing when the
#: session is gone or its user blocked.
INSERT_CODE_FOR_SESSION = Plain(insert(_CODES).from_select(
    list(CODE_COLUMNS),
    select(*[_FROM_SESSION[name] if name in _FROM_SESSION else bindparam(f"v_{name}", type_=_CODES.c[name].type)
             for name in CODE_COLUMNS])
    .select_from(_SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id))
    .where(*sso.LIVE_SESSION, _USERS.c.blocked.is_(False))))


def session_code_params(values: dict[str, Any], cookie: str) -> dict[str, Any]:
    """The parameters of :data:`INSERT_CODE_FOR_SESSION` for ``code_request_values`` and the SSO cookie."""
    return {**{f"v_{name}": value for name, value in values.items()}, **sso.login_params(cookie)}


def token_values(token: dict[str, Any], request: OAuth2Request) -> dict[str, Any]:
    """The row of a token response (``tokens.CODE_TOKEN_COLUMNS``), as digests, in the family of the refresh
    token it replaces (if any)."""
    principal: Principal = request.user
    settings = _settings()
    now = utcnow()
    parent: Token | None = getattr(request, "refresh_token", None)
    code: CodeRecord | None = request.authorization_code
    refresh = token.get("refresh_token")
    return dict(
        client_id=request.client.client_id,
        user_id=principal.user.id,
        access_token_digest=digest(token["access_token"]),
        refresh_token_digest=digest(refresh) if refresh else None,
        scope=token.get("scope", ""),
        family_id=parent.family_id if parent is not None else tokens.new_family_id(),
        parent_id=parent.id if parent is not None else None,
        code_id=code.id if code is not None else (parent.code_id if parent is not None else None),
        auth_time=principal.auth_time,
        sid=principal.sid,
        connection_id=principal.connection_id,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=int(token.get("expires_in", settings.access_token_lifetime))),
        refresh_expires_at=now + timedelta(seconds=settings.refresh_token_lifetime) if refresh else None,
    )


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Store a token response: from a code, on its own once the code is spent (``tokens.save_code_tokens``);
    from a refresh token, in its family, committed with the rotation by the view."""
    values = token_values(token, request)
    if request.authorization_code is not None:
        tokens.save_code_tokens(values)
    else:
        _INSERT_TOKEN.run(db.session.connection(), values)
