"""The authorization endpoint's decisions (OIDC Core §3.1.2): who is signed in, whether ``prompt`` and
``max_age`` allow using that session, consent for third-party applications, and how errors travel.

Request validation itself is Authlib's (grant + extensions); what NOTES trap 9 leaves to the application
lives here, not in the view.
"""

from __future__ import annotations

import time

from authlib.oauth2 import OAuth2Error
from flask import render_template, request
from werkzeug.wrappers import Response

from idp_bridge.extensions import db
from idp_bridge.oidc import seam, sso
from idp_bridge.oidc.models import Client, Consent, PendingAuthorization
from idp_bridge.oidc.principal import Principal, load_user
from idp_bridge.oidc.responses import RESPONSE_MODES, params_from_location, respond, web_message_origin
from idp_bridge.oidc.server import authorization_server, query_client

UNSUPPORTED = {"request": "request_not_supported", "request_uri": "request_uri_not_supported",
               "registration": "registration_not_supported"}


def _params() -> dict[str, str]:
    return request.values.to_dict(flat=True)


def error_page(code: str, description: str, status: int = 400) -> Response:
    body = render_template("errors/error.html", status=status, code=code, description=description)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _response_mode(params: dict[str, str], client: Client | None, redirect_uri: str) -> str:
    mode = params.get("response_mode", "query")
    if mode not in RESPONSE_MODES:
        return "query"
    if mode == "web_message" and (client is None or web_message_origin(client, redirect_uri) is None):
        return "query"
    return mode


def error_response(error: OAuth2Error, params: dict[str, str]) -> Response:
    """Redirect the error to the client only when the redirect URI is validated; else show a page."""
    if not error.redirect_uri:
        return error_page(error.error or "invalid_request", error.description or "Invalid authorization request.")
    code = error.error
    if code == "unsupported_response_type" and not params.get("response_type"):
        code = "invalid_request"
    client = query_client(params.get("client_id", ""))
    if client is None:
        return error_page(code, error.description or "")
    mode = _response_mode(params, client, error.redirect_uri)
    return respond(client, error.redirect_uri,
                   {"error": code, "error_description": error.description, "state": params.get("state")}, mode)


def _session_principal(params: dict[str, str]) -> Principal | None:
    """The SSO session, if ``prompt`` and ``max_age`` allow using it."""
    row = sso.current_session()
    user = load_user(row.user_id) if row is not None else None
    if row is None or user is None:
        return None
    if "login" in params.get("prompt", "").split():
        return None
    max_age = params.get("max_age", "")
    if max_age.isdigit() and time.time() - row.auth_time > int(max_age):
        return None
    return Principal(user, row.auth_time, row.sid, row.connection_id)


def _has_consent(principal: Principal, client: Client, scope: str) -> bool:
    row = db.session.scalar(db.select(Consent).where(Consent.user_id == principal.user.id,
                                                     Consent.client_id == client.client_id))
    return row is not None and set(scope.split()) <= set(row.scope.split())


def handle_authorize() -> Response:
    params = _params()
    server = authorization_server()
    resumed: PendingAuthorization | None = None
    if seam.RESUME_PARAM in params:
        resumed = seam.take_resumed(params[seam.RESUME_PARAM], params)
    principal = None
    if resumed is not None and resumed.user_id is not None:
        user = load_user(resumed.user_id)
        if user is not None:
            principal = Principal(user, resumed.auth_time or int(time.time()), resumed.sid, resumed.connection_id)
    else:
        principal = _session_principal(params)
    try:
        grant = server.get_consent_grant(end_user=principal)
    except OAuth2Error as error:
        return error_response(error, params)
    client: Client = grant.request.client
    redirect_uri: str = grant.redirect_uri
    mode = _response_mode(params, client, redirect_uri)

    def fail(code: str, description: str) -> Response:
        return respond(client, redirect_uri, {"error": code, "error_description": description,
                                              "state": params.get("state")}, mode)

    if params.get("response_mode", "query") not in RESPONSE_MODES:
        return fail("invalid_request", "Unsupported 'response_mode'.")
    if params.get("response_mode") == "web_message" and mode != "web_message":
        return fail("invalid_request", "response_mode=web_message needs the redirect URI's origin registered "
                                       "as a web origin of the application.")
    if (max_age := params.get("max_age")) is not None and not (max_age.isdigit() and len(max_age) <= 10):
        return fail("invalid_request", "'max_age' must be a non-negative integer.")
    for name, code in UNSUPPORTED.items():
        if name in params:
            return fail(code, f"The '{name}' parameter is not supported.")
    if "openid" not in (grant.request.scope or "").split():
        return fail("invalid_scope", "The 'openid' scope is required.")
    if principal is None:
        return seam.begin_interactive_login(client.client_id, params)
    if client.third_party and not (resumed is not None and resumed.consented_at is not None):
        scope = grant.request.scope or ""
        if "consent" in params.get("prompt", "").split() or not _has_consent(principal, client, scope):
            if "none" in params.get("prompt", "").split():
                return fail("consent_required", "The user has not granted this application access yet.")
            return _consent_page(client, params, principal, scope)
    answer = server.create_authorization_response(grant_user=principal, grant=grant)
    location = answer.headers.get("Location")
    if not location:
        return error_page("server_error", "The authorization could not be completed.", 500)
    return respond(client, redirect_uri, dict(params_from_location(location)), mode)


def _consent_page(client: Client, params: dict[str, str], principal: Principal, scope: str) -> Response:
    """Ask the user; the answer comes back to ``/oauth/consent`` bound to this browser by a pending row."""
    pending, new_cookie = seam.create_pending(client.client_id, params)
    pending.user_id = principal.user.id
    pending.auth_time = principal.auth_time
    pending.sid = principal.sid
    pending.connection_id = principal.connection_id
    db.session.commit()
    page = Response(render_template("oidc/consent.html", client=client, scopes=scope.split(),
                                    pending_id=pending.id), mimetype="text/html")
    return seam.bind_browser(page, new_cookie)
