"""The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) as an ordered list of one-rule checks.

Modelled on node-oidc-provider's ``lib/actions/authorization/``: each check reads (and may fill in) the
:class:`AuthorizationRequest` and raises one of Authlib's error classes; :func:`handle_authorize` turns any of
them into a response in one place, :func:`error_response`. Until the client and its redirect URI are
validated an error is a page for the user; afterwards it goes to the redirect URI in the requested response
mode with ``state`` and ``iss`` (RFC 6749 §4.1.2.1, RFC 9207). Error descriptions are fixed text: nothing
from the request is echoed back (Authlib also refuses to build a description with quotes or controls).

The checks before :func:`check_grant` validate parameters; :func:`check_grant` runs Authlib's own
validation (PKCE, scope, nonce); the ones after it decide the interaction: use the SSO session, ask for a
login, ask for consent, or answer with a code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    UnsupportedResponseTypeError,
)
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import request
from werkzeug.wrappers import Response

from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.numbers import BadNumber, parse_int
from idp_bridge.oidc import consent, seam, sso
from idp_bridge.oidc.id_token_hint import hinted_subject
from idp_bridge.oidc.lookup import has_control_characters
from idp_bridge.oidc.models import ClientRules
from idp_bridge.oidc.principal import Principal
from idp_bridge.oidc.responses import (
    RESPONSE_MODES,
    error_page,
    params_from_location,
    respond,
    web_message_origin,
)
from idp_bridge.oidc.server import authorization_server, query_client

MAX_AGE_LIMIT = 9_999_999_999  # ten digits (over 300 years), the bound clients already met; more is refused
PROMPTS = frozenset({"none", "login", "consent", "select_account"})


#: OIDC Core §3.1.2.6: request objects (§6) and the ``registration`` parameter (§7.2.1) are not supported.
UNSUPPORTED: dict[str, type[OAuth2Error]] = {
    "request": RequestNotSupportedError,
    "request_uri": RequestURINotSupportedError,
    "registration": RegistrationNotSupportedError,
}


@dataclass
class AuthorizationRequest:
    """What the checks learnt so far; ``client`` and ``redirect_uri`` are set only once validated."""

    params: dict[str, str]
    repeated: list[str]
    client: ClientRules | None = None
    redirect_uri: str | None = None
    response_mode: str = "query"
    max_age: int | None = None
    hinted_sub: str | None = None
    resumed: seam.Resumed | None = None
    principal: Principal | None = None
    grant: Any = None
    ask_consent: bool = False
    prompts: set[str] = field(default_factory=set)

    @classmethod
    def from_flask(cls) -> AuthorizationRequest:
        values = request.values
        repeated = [name for name in values if len(values.getlist(name)) > 1]
        return cls(params=values.to_dict(flat=True), repeated=repeated)

    @property
    def valid_client(self) -> ClientRules:
        if self.client is None:  # pragma: no cover - the checks order guarantees it
            raise RuntimeError("client used before check_client")
        return self.client

    @property
    def scope(self) -> str:
        return str(self.grant.request.scope or "") if self.grant is not None else ""


Check = Callable[[AuthorizationRequest], None]


# --- before the redirect URI is trusted: errors are pages -------------------------------------------------

def refuse_control_characters(req: AuthorizationRequest) -> None:
    """SPEC §15: NUL and control characters are refused on every route (and never stored or echoed)."""
    if any(has_control_characters(k) or has_control_characters(v) for k, v in req.params.items()):
        raise InvalidRequestError("The request contains control characters.")


def refuse_repeated_parameters(req: AuthorizationRequest) -> None:
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once."""
    if req.repeated:
        raise InvalidRequestError("A parameter is repeated.")


def check_client(req: AuthorizationRequest) -> None:
    """RFC 6749 §4.1.2.1: an unknown client gets no redirect."""
    if not req.params.get("client_id"):
        raise InvalidClientError(description="Missing 'client_id' parameter.")
    client = query_client(req.params["client_id"])
    if client is None:
        raise InvalidClientError(description="The client does not exist on this server.")
    req.client = client


def check_redirect_uri(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: ``redirect_uri`` is required and must match a registered one exactly (RFC 9700
    §4.1.3); until it does, nothing is redirected."""
    uri = req.params.get("redirect_uri")
    if not uri:
        raise InvalidRequestError("Missing 'redirect_uri' parameter.")
    if not req.valid_client.check_redirect_uri(uri):
        raise InvalidRequestError("The 'redirect_uri' is not registered for this application.")
    req.redirect_uri = uri


# --- from here on errors go back to the client ------------------------------------------------------------

def check_response_mode(req: AuthorizationRequest) -> None:
    """OAuth 2.0 Multiple Response Types §2.1 and Form Post; ``web_message`` only to a registered origin.
    An unusable mode is reported with the default (query)."""
    mode = req.params.get("response_mode", "query")
    if mode not in RESPONSE_MODES:
        raise InvalidRequestError("Unsupported 'response_mode'.")
    if mode == "web_message" and web_message_origin(req.valid_client, req.redirect_uri or "") is None:
        raise InvalidRequestError("response_mode=web_message needs the redirect URI's origin registered as a web "
                           "origin of the application.")
    req.response_mode = mode


def check_response_type(req: AuthorizationRequest) -> None:
    """RFC 6749 §4.1.1: ``response_type=code`` is the only one we implement (SPEC §4)."""
    response_type = req.params.get("response_type")
    if not response_type:
        raise InvalidRequestError("Missing 'response_type' parameter.")
    if response_type != "code":
        # Authlib's own description quotes the value back; ours is fixed text.
        raise UnsupportedResponseTypeError("code", description="Only 'response_type=code' is supported.")


def reject_unsupported(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.6: say so when request objects or registration are used."""
    for name, error in UNSUPPORTED.items():
        if name in req.params:
            raise error(f"The '{name}' parameter is not supported.")


def check_openid_scope(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: ``openid`` is required; this provider serves OpenID Connect only."""
    if "openid" not in req.params.get("scope", "").split():
        raise InvalidScopeError("The 'openid' scope is required.")


def check_prompt(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: ``none`` cannot be combined; unknown values are ignored."""
    prompts = set(req.params.get("prompt", "").split())
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("'prompt=none' cannot be combined with other values.")
    req.prompts = prompts & PROMPTS


def check_max_age(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: a non-negative integer of seconds, in ASCII digits (SPEC §15)."""
    raw = req.params.get("max_age")
    if raw is None:
        return
    try:
        req.max_age = parse_int(raw, maximum=MAX_AGE_LIMIT)
    except BadNumber:
        raise InvalidRequestError("'max_age' must be a non-negative integer.") from None


def check_id_token_hint(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1, SPEC §15: a hint must be our ID token for this client (expired is fine)."""
    hint = req.params.get("id_token_hint")
    if hint is None:
        return
    sub = hinted_subject(hint, req.valid_client.client_id, str(current_settings().issuer))
    if sub is None:
        raise InvalidRequestError("The 'id_token_hint' is not an ID token this provider issued to this application.")
    req.hinted_sub = sub


# --- the end user -----------------------------------------------------------------------------------------

def resolve_end_user(req: AuthorizationRequest) -> None:
    """The browser just signed in for this very request (the login seam), or its SSO session if ``prompt``
    and ``max_age`` allow using it (OIDC Core §3.1.2.1)."""
    if seam.RESUME_PARAM in req.params:
        req.resumed = seam.take_resumed(req.params[seam.RESUME_PARAM], req.params)
    if req.resumed is not None and req.resumed.user_id is not None:
        user = seam.resumed_user(req.resumed.user_id)
        if user is not None:
            req.principal = Principal(user, req.resumed.auth_time or int(time.time()), req.resumed.sid,
                                      req.resumed.connection_id)
        return
    login = sso.current_login()
    if login is None or login.user is None or "login" in req.prompts:
        return
    if req.max_age is not None and time.time() - login.auth_time > req.max_age:
        return
    req.principal = Principal(login.user, login.auth_time, login.sid, login.connection_id)


def check_hinted_user(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: a session of another user than the hint's is not used. ``prompt=none`` gets
    ``login_required``; otherwise the user signs in afresh, and if that login is still someone else the
    client gets ``login_required`` rather than a code for the wrong person."""
    if req.hinted_sub is None or req.principal is None or req.principal.user.sub == req.hinted_sub:
        return
    if req.resumed is not None or "none" in req.prompts:
        raise LoginRequiredError("The signed-in user is not the one named by 'id_token_hint'.")
    req.principal = None


def check_grant(req: AuthorizationRequest) -> None:
    """Authlib's validation of the code request (PKCE per RFC 7636 / SPEC §4, scopes, nonce). Everything it
    could quote back (``response_type``, ``redirect_uri``) was checked above, so its texts are fixed."""
    req.grant = authorization_server().get_consent_grant(end_user=req.principal)


def require_login(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.6: no usable session and ``prompt=none`` → ``login_required``."""
    if req.principal is None and "none" in req.prompts:
        raise LoginRequiredError("The user is not signed in.")


def check_consent(req: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.4: third-party applications need the user's consent for the scopes asked."""
    client = req.valid_client
    if req.principal is None or not client.third_party:
        return
    if req.resumed is not None and req.resumed.consented_at is not None:
        return
    if "consent" not in req.prompts and consent.granted(req.principal.user.id, client.client_id, req.scope):
        return
    if "none" in req.prompts:
        raise ConsentRequiredError("The user has not granted this application access yet.")
    req.ask_consent = True


CHECKS: tuple[Check, ...] = (
    refuse_control_characters,
    refuse_repeated_parameters,
    check_client,
    check_redirect_uri,
    check_response_mode,
    check_response_type,
    reject_unsupported,
    check_openid_scope,
    check_prompt,
    check_max_age,
    check_id_token_hint,
    resolve_end_user,
    check_hinted_user,
    check_grant,
    require_login,
    check_consent,
)


def handle_authorize() -> Response:
    """Run the checks, then answer: log in, ask consent, or redirect with a code."""
    req = AuthorizationRequest.from_flask()
    try:
        for check in CHECKS:
            check(req)
        return _answer(req)
    except OAuth2Error as error:
        return error_response(error, req)
    finally:
        if req.resumed is not None:
            # The resumed pending authorization is spent whatever the answer; on success it already
            # committed with the code (one transaction), and this commit has nothing left to do.
            db.session.commit()


def _answer(req: AuthorizationRequest) -> Response:
    client = req.valid_client
    if req.principal is None:
        return seam.begin_interactive_login(client.client_id, req.params)
    if req.ask_consent:
        return consent.ask(client, req.params, req.principal, req.scope)
    answer = authorization_server().create_authorization_response(request=req.grant.request, grant_user=req.principal,
                                                                 grant=req.grant)
    location = answer.headers.get("Location")
    if not location or req.redirect_uri is None:
        return error_page("server_error", "The authorization could not be completed.", 500)
    return respond(client, req.redirect_uri, params_from_location(location, req.redirect_uri), req.response_mode)


def error_response(error: OAuth2Error, req: AuthorizationRequest) -> Response:
    """The one place an authorization error becomes a response (RFC 6749 §4.1.2.1): to the validated
    redirect URI with ``state`` and ``iss``, else a page. Nothing from the request is echoed but ``state``,
    which the RFC requires."""
    code = error.error or "invalid_request"
    if req.client is None or req.redirect_uri is None:
        return error_page(code, error.description or "Invalid authorization request.")
    return respond(req.client, req.redirect_uri,
                   {"error": code, "error_description": error.description or None,
                    "state": req.params.get("state")}, req.response_mode)
