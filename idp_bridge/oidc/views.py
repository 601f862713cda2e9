"""HTTP endpoints of the provider: thin adapters from Flask to Authlib and ``authorize.py``."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc import authorize as authorize_logic
from idp_bridge.oidc import consent as consent_logic
from idp_bridge.oidc import keystore, lockout, seam, sso
from idp_bridge.oidc.cors import add_cors_headers
from idp_bridge.oidc.discovery import metadata
from idp_bridge.oidc.principal import load_user, user_claims
from idp_bridge.oidc.responses import error_page
from idp_bridge.oidc.server import authorization_server, require_oauth
from idp_bridge.security import csrf

bp = Blueprint("oidc", __name__)
bp.after_request(add_cors_headers)
CLIENT_AUTH_ENDPOINTS = {"oidc.token", "oidc.revoke", "oidc.introspect"}
CACHEABLE_ENDPOINTS = {"oidc.discovery", "oidc.jwks"}


@bp.after_request
def _no_store(response: Response) -> Response:
    """Nothing the provider answers may be cached (RFC 6749 §5.1 for tokens, RFC 9700 §4.16 for pages that
    carry codes or errors), except the public discovery document and keys."""
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def _client_error(status: int, description: str) -> Response:
    response = jsonify(error="invalid_client", error_description=description)
    response.status_code = status
    return response


def _claimed_client_id() -> str:
    """The client a token/revoke/introspect request claims to be (Basic header or form), for rate limiting."""
    return lockout.claimed_key(request.authorization, request.form.get("client_id", ""), request.remote_addr)


@bp.before_request
def _guard_client_authentication() -> Response | None:
    """Refuse a malformed ``Authorization`` header (Authlib crashes on one without credentials) and a client
    id locked for this address by too many failed authentications (``oidc.lockout``)."""
    if request.endpoint not in CLIENT_AUTH_ENDPOINTS:
        return None
    if lockout.malformed_authorization(request.headers.get("Authorization")):
        return _client_error(401, "Malformed Authorization header.")
    client_id = _claimed_client_id()
    if client_id and lockout.locked(client_id):
        response = _client_error(429, "Too many failed client authentications; retry in a minute.")
        response.headers["Retry-After"] = "60"
        return response
    return None


@bp.after_request
def _count_failed_client_authentication(response: Response) -> Response:
    if request.endpoint in CLIENT_AUTH_ENDPOINTS and response.status_code == 401:
        client_id = _claimed_client_id()
        if client_id:
            lockout.record_failure(client_id)
    return response


def _issuer() -> str:
    return str(current_settings().issuer)


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    response = jsonify(metadata(_issuer()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/jwks")
@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(keystore.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    return authorize_logic.handle_authorize()


@bp.post("/oauth/consent")
def consent() -> Response:
    """The answer of the consent page: remember it, then resume the authorization."""
    csrf.verify(request.form.get(csrf.FIELD))
    pending = seam.get_pending(request.form.get("pending_id", ""))
    if pending is None or pending.user_id is None:
        return error_page("login_expired", "This consent request expired. Start again.")
    if request.form.get("decision") != "allow":
        return seam.deny_login(pending.id, "access_denied", "The user did not allow access.")
    consent_logic.remember(pending)
    return redirect(url_for("oidc.authorize") + "?" + urlencode({**pending.params, seam.RESUME_PARAM: pending.id}),
                    code=303)


@bp.post("/oauth/token")
def token() -> Response:
    """The code grant spends the code and saves its tokens in a statement each (``tokens.consume_code``); the
    refresh grant rotates and saves in the request's transaction, which this commit ends. An error response
    commits too — a code spent by a failed redemption stays spent (RFC 6749 §4.1.2: use it once). A request
    that never used its session has nothing to commit, and no session is made to find that out."""
    response = authorization_server().create_token_response()
    if db.session.registry.has():
        db.session.commit()
    return response


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        token_row = require_oauth.acquire_token(["openid"])
    except OAuth2Error as error:
        status, body, headers = error()
        response = jsonify(dict(body))
        response.status_code = status
        for name, value in headers:
            if name.lower() == "www-authenticate":
                response.headers[name] = value
        return response
    user = load_user(token_row.user_id)
    if user is None:
        response = jsonify(error="invalid_token", error_description="The user no longer exists or is blocked.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return jsonify(user_claims(user, token_row.connection_id, token_row.scope))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return authorization_server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return authorization_server().create_endpoint_response("introspection")


@bp.route("/oauth/logout", methods=["GET", "POST"])
def logout() -> Response:
    """RP-initiated logout; without a valid ``id_token_hint`` the user confirms first (spec §6)."""
    server = authorization_server()
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    if confirmed:
        csrf.verify(request.form.get(csrf.FIELD))
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return error_page(error.error or "invalid_request", error.description or "Invalid logout.")
    if validated.needs_confirmation and not confirmed:
        params = {k: v for k, v in request.values.items() if k not in ("confirm", csrf.FIELD)}
        return Response(render_template("oidc/logout_confirm.html", params=params,
                                        client=validated.client), mimetype="text/html")
    if confirmed and validated.redirect_uri is None and validated.client is not None:
        validated.redirect_uri = _confirmed_redirect(validated)
    result = server.create_endpoint_response("end_session", validated)
    if result is None:
        result = Response(render_template("oidc/logged_out.html"), mimetype="text/html")
    return sso.clear_if_ended(result)


def _confirmed_redirect(validated: object) -> str | None:
    """After the user confirmed, an exactly registered ``post_logout_redirect_uri`` may be followed."""
    uri = request.values.get("post_logout_redirect_uri")
    client = getattr(validated, "client", None)
    if not uri or client is None or uri not in client.post_logout_redirect_uris:
        return None
    state = request.values.get("state")
    return add_params_to_uri(uri, {"state": state}) if state else uri
