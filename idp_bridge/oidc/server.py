"""The Authlib authorization server and resource protector, wired once per app (DESIGN example 2)."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.rpinitiated import EndSessionEndpoint
from authlib.oidc.rpinitiated.end_session import EndSessionRequest
from flask import Flask, current_app, request

from idp_bridge.config import current_settings, settings_of
from idp_bridge.extensions import db
from idp_bridge.oidc import grants, keystore, sso, tokens
from idp_bridge.oidc.client_cache import ClientRecord, find_client
from idp_bridge.oidc.models import ClientRules, Token
from idp_bridge.oidc.principal import load_user
from idp_bridge.timeutil import epoch, utcnow


def query_client(client_id: str) -> ClientRecord | None:
    """The client named in a request, from the per-process cache (Authlib asks several times per request)."""
    return find_client(client_id)


class OAuth2RequestOf(FlaskOAuth2Request):
    """Authlib's view of a werkzeug (or Flask) request, made without rebuilding the request's full URL.

    Authlib uses ``uri`` only for its transport check (``InsecureTransportError``: https, or http to a loopback
    host), which reads the scheme and host alone; werkzeug's IRI-to-URI rebuilding of the whole URL was a
    tenth of the cost of a token request's Authlib work (SPEC §16). Scheme, host and path are the request's."""

    def __init__(self, request: Any) -> None:
        OAuth2Request.__init__(self, request.method, f"{request.scheme}://{request.host}{request.path}",
                               headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class Server(AuthorizationServer):
    """Authlib's Flask authorization server, reading the request object itself rather than Flask's ``request``
    proxy: Authlib reads the payload a dozen times per request, each time through the proxy's lookup of the
    current context (a tenth of the token endpoint's own CPU, SPEC §16)."""

    def create_oauth2_request(self, request_: Any) -> FlaskOAuth2Request:
        return OAuth2RequestOf(request._get_current_object())  # type: ignore[attr-defined]


class Issuer(IssuerParameter):
    """RFC 9207: ``iss`` in authorization responses (errors get it in ``responses.py``)."""

    def get_issuer(self) -> str:
        return str(current_settings().issuer)


class Revocation(RevocationEndpoint):
    """RFC 7009. Revoking a refresh token ends its family (and the access tokens issued in it)."""

    CLIENT_AUTH_METHODS = grants.AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        found = tokens.find_token(token_string, token_type_hint) if len(token_string) <= 256 else None
        if found is None:
            return None
        row, kind = found
        row._matched_kind = kind
        return row

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        if getattr(token, "_matched_kind", "") == "refresh_token":
            tokens.revoke_family(token.family_id)
        else:
            token.revoked_at = utcnow()
            db.session.commit()


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for authenticated confidential clients. SPEC §15: a token is described only to the client it
    was issued to or to a client registered as a resource server (``--resource-server``); any other caller
    learns ``{"active": false}`` and nothing else (RFC 7662 §2.2 lets the server decide who may know)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return Revocation.query_token(self, token_string, token_type_hint)

    def check_permission(self, token: Token, client: ClientRules, request: OAuth2Request) -> bool:
        if client.public:
            return False
        return token.client_id == client.client_id or bool(client.resource_server)

    def create_introspection_payload(self, token: Token | None) -> dict[str, Any]:
        if token is None or token.revoked_at is not None:
            return {"active": False}
        kind = getattr(token, "_matched_kind", "access_token")
        now = utcnow()
        if kind == "refresh_token":
            live = token.rotated_at is None and token.refresh_expires_at is not None and token.refresh_expires_at > now
            expires = token.refresh_expires_at
        else:
            live = token.access_expires_at > now
            expires = token.access_expires_at
        user = load_user(token.user_id)
        if not live or user is None or expires is None:
            return {"active": False}
        return {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": user.sub,
            "aud": token.client_id,
            "iss": current_settings().issuer,
            "exp": epoch(expires),
            "iat": epoch(token.issued_at),
            "token_type": "Bearer" if kind == "access_token" else "refresh_token",
        }


class EndSession(EndSessionEndpoint):
    """RP-initiated logout: expired ``id_token_hint`` accepted, exact ``post_logout_redirect_uri``."""

    def get_server_jwks(self) -> dict[str, Any]:
        return keystore.public_jwks()

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        claims = end_session_request.id_token_claims or {}
        sso.end_current_session(sid_hint=claims.get("sid"))


class AccessTokenValidator(BearerTokenValidator):
    """Bearer access tokens for userinfo, looked up by digest."""

    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 256:
            return None
        found = tokens.find_token(token_string)
        if found is None or found[1] != "access_token":
            return None
        return found[0]


require_oauth = ResourceProtector()
require_oauth.register_token_validator(AccessTokenValidator())
_KEY = "idp_bridge.authorization_server"


def init_server(app: Flask) -> None:
    """One authorization server per app, so apps with different lifetimes never share state."""
    settings = settings_of(app)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": settings.access_token_lifetime,
        "refresh_token": settings.access_token_lifetime,
    }
    server = Server()
    server.init_app(app, query_client=query_client, save_token=grants.save_token)
    default = server._token_generators["default"]
    server.register_token_generator(
        "default",
        grants.TokenGenerator(lambda **_: tokens.new_token_value(), lambda **_: tokens.new_token_value(),
                              default.expires_generator),
    )
    server.register_grant(grants.AuthorizationCodeGrant,
                          [grants.S256CodeChallenge(required=True), grants.OpenIDCode(require_nonce=False)])
    server.register_grant(grants.RefreshTokenGrant, [grants.OpenIDRefresh()])
    server.register_endpoint(Revocation())
    server.register_endpoint(Introspection())
    server.register_endpoint(EndSession())
    server.register_extension(Issuer())
    app.extensions[_KEY] = server


def authorization_server() -> AuthorizationServer:
    return current_app.extensions[_KEY]
