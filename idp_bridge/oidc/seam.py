"""The login seam (SPEC §7): how the authorization endpoint hands a browser to the login step and
how the login step hands it back.

authorize → :func:`begin_interactive_login` stores the validated request, binds it to this browser with a
cookie and redirects to the hosted login page. The login step reads it with :func:`get_pending`, and when the
user is known calls :func:`complete_login` *in that browser's request*: the SSO session starts and the
authorization endpoint, resumed in that same request, answers with a code. :func:`deny_login` ends it with
an error for the client instead.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import current_app, redirect, request, url_for
from flask import session as flask_session
from flask.ctx import RequestContext
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from idp_bridge import audit, signals
from idp_bridge.extensions import db
from idp_bridge.oidc import sso
from idp_bridge.oidc.cookies import read_cookie, set_cookie
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.oidc.principal import UserRecord, load_user
from idp_bridge.oidc.responses import error_page, respond
from idp_bridge.secretbox import digest, matches
from idp_bridge.timeutil import utcnow

BROWSER_COOKIE = "idpb_browser"
PENDING_LIFETIME = 15 * 60
RESUME_PARAM = "_resume"


def _browser_value() -> tuple[str, bool]:
    """This browser's binding value (existing or new) and whether the cookie must be set."""
    existing = read_cookie(BROWSER_COOKIE)
    if existing:
        return existing, False
    return secrets.token_urlsafe(32), True


def login_url(pending_id: str) -> str:
    try:
        return url_for("login.page", pending_id=pending_id)
    except BuildError:  # the login package is not mounted (OIDC-only tests)
        return f"/login/{pending_id}"


def create_pending(client_id: str, params: dict[str, str]) -> tuple[PendingAuthorization, str | None]:
    """Store a validated request bound to this browser; returns it and a new cookie value to set (if any)."""
    value, new = _browser_value()
    pending = PendingAuthorization(
        id=secrets.token_urlsafe(24),
        browser_digest=digest(value),
        client_id=client_id,
        params={k: v for k, v in params.items() if k != RESUME_PARAM},
        expires_at=utcnow() + timedelta(seconds=PENDING_LIFETIME),
    )
    db.session.add(pending)
    db.session.commit()
    return pending, value if new else None


def bind_browser(response: Response, new_value: str | None) -> Response:
    """Set the browser-binding cookie when :func:`create_pending` made a new one."""
    if new_value:
        set_cookie(response, BROWSER_COOKIE, new_value, None)
    response.headers["Cache-Control"] = "no-store"
    return response


def begin_interactive_login(client_id: str, params: dict[str, str]) -> Response:
    """Store the validated request and send the browser to the hosted login page."""
    pending, new_value = create_pending(client_id, params)
    return bind_browser(redirect(login_url(pending.id), code=303), new_value)


def get_pending(pending_id: str) -> PendingAuthorization | None:
    """The pending authorization, only for the browser that started it and only while it is live."""
    key = lookup_key(pending_id)
    if key is None:
        return None
    value = read_cookie(BROWSER_COOKIE)
    pending = db.session.get(PendingAuthorization, key)
    if pending is None or not value or not matches(value, pending.browser_digest):
        return None
    if pending.completed_at is not None or pending.expires_at <= utcnow():
        return None
    return pending


@dataclass
class Completion:
    """A login about to be completed in this browser's request: :meth:`record` writes it into the caller's
    open transaction (so that it commits together with whatever made it the one completion, such as the login
    session's move to ``completed``), :meth:`response` then resumes the authorization."""

    pending: PendingAuthorization
    user: UserRecord
    connection_id: int | None
    #: The scan that decided the login was a follow (the ``user.login`` event's ``new_follower``, SPEC §14).
    new_follower: bool = False
    _cookie: str = ""
    _resume: str = ""

    @property
    def user_id(self) -> int:
        return self.user.id

    def record(self) -> None:
        """The SSO session, its audit record, the pending authorization's user and the ``user.login`` event
        (SPEC §14), without committing."""
        pending = self.pending
        # Read before the commit: it expires the row, and reading it again would cost a SELECT.
        self._resume = urlencode({**pending.params, RESUME_PARAM: pending.id})
        session, self._cookie = sso.start_session(self.user_id, self.connection_id, commit=False)
        audit.record("login.complete", actor=f"user:{self.user_id}", target=pending.client_id, sid=session.sid,
                     commit=False)
        pending.user_id = self.user_id
        pending.connection_id = self.connection_id
        pending.auth_time = session.auth_time
        pending.sid = session.sid
        signals.login_completed.send(None, user_id=self.user_id, client_id=pending.client_id,
                                     connection_id=self.connection_id, pending_id=pending.id, sid=session.sid,
                                     sub=self.user.sub, new_follower=self.new_follower)

    @property
    def resume_query(self) -> str:
        """The authorization request to resume (its stored parameters and the pending id), once recorded."""
        return self._resume

    @property
    def cookie(self) -> str:
        """The new SSO session's cookie value, once recorded."""
        return self._cookie

    def response(self) -> Response:
        """Once recorded: the authorization endpoint's answer to the resumed request, with the SSO cookie (in the
        recording transaction when the caller leaves it open: the code then commits with the completion).

        The resumed request (the same one a redirect to ``/oauth/authorize?…&_resume=<pending>`` would make)
        is dispatched inside this browser's request: a nested request context for that URL, carrying this
        request's cookies, scheme, host and client address, runs the authorization endpoint's view with all
        of its checks (OIDC Core §3.1.2.2: the request is validated again; the client, its redirect URI and the
        user may have changed during the login). Answering here instead of redirecting spares the person a
        browser round trip between the scan and the relying party. The view's answer (a redirect to the
        client, a form_post or web_message page, a consent page or an error) is returned as it is."""
        response = resume_in_this_request(self._resume, self.user)
        sso.attach_cookie(response, self._cookie)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response


def resume_in_this_request(query: str, user: UserRecord | None = None) -> Response:
    """Dispatch ``GET /oauth/authorize?<query>`` inside the current request (see :meth:`Completion.response`);
    ``user``: the user this request just signed in, read moments ago, which the endpoint then does not read
    again (:func:`resumed_user`).

    Only the endpoint's view runs: the app's hooks already ran for the outer request (input gate, request id,
    security headers) and run once more on its response, and the OIDC blueprint's own response rules (no
    caching, RFC 9700 §4.16) are applied by the view's responses themselves."""
    path = url_for("oidc.authorize")[len(request.script_root):]
    environ = {**request.environ, "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(), _SIGNED_IN: user}
    environ.pop("CONTENT_TYPE", None)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # One Flask session for both: the outer response saves what the view put there (the consent form's CSRF
    # token).
    with RequestContext(app, environ, session=flask_session._get_current_object()):  # type: ignore[attr-defined]
        return app.make_response(app.dispatch_request())


_SIGNED_IN = "idpb.signed_in_user"


def resumed_user(user_id: int) -> UserRecord | None:
    """The active user a resumed authorization is for: the one the completing request just read (passed in by
    :func:`resume_in_this_request`), else read now."""
    user = request.environ.get(_SIGNED_IN)
    if isinstance(user, UserRecord) and user.id == user_id:
        return user
    return load_user(user_id)


def prepare_completion(pending_id: str, user_id: int, *, connection_id: int | None = None,
                       pending: PendingAuthorization | None = None,
                       new_follower: bool = False) -> Completion | Response:
    """Check that this browser may complete ``pending_id`` as ``user_id`` (``pending``: the row, when the
    caller already read it through :func:`get_pending`); a response when it may not (expired, blocked).
    ``new_follower``: the login's deciding scan was a follow."""
    pending = pending if pending is not None else get_pending(pending_id)
    if pending is None:
        return expired_page()
    user = load_user(user_id)
    if user is None:
        return deny_login(pending_id, "access_denied", "This account is blocked.")
    return Completion(pending, user, connection_id, new_follower)


def complete_login(pending_id: str, user_id: int, *, connection_id: int | None = None) -> Response:
    """Sign this browser in as ``user_id`` (one transaction), then answer with the resumed authorization
    (:meth:`Completion.response`): this is the last leg between the scan and the relying party."""
    completion = prepare_completion(pending_id, user_id, connection_id=connection_id)
    if isinstance(completion, Response):
        return completion
    completion.record()
    db.session.commit()
    return completion.response()


@dataclass(frozen=True)
class Resumed:
    """What authorize needs of the pending authorization this browser just logged in for, read before the
    commit that consumes it (reading the expired row again would cost a SELECT)."""

    id: str
    user_id: int | None
    auth_time: int | None
    sid: str | None
    connection_id: int | None
    consented_at: datetime | None


def take_resumed(pending_id: str, params: dict[str, str]) -> Resumed | None:
    """At authorize: the pending this browser just logged in for, consumed once, with identical params. The
    consumption is left in the request's transaction: it commits with the authorization code (the caller
    commits it on every other answer too)."""
    pending = get_pending(pending_id)
    if pending is None or pending.user_id is None:
        return None
    if {k: v for k, v in params.items() if k != RESUME_PARAM} != pending.params:
        return None
    taken = Resumed(pending.id, pending.user_id, pending.auth_time, pending.sid, pending.connection_id,
                    pending.consented_at)
    pending.completed_at = utcnow()
    db.session.flush()  # now, so that the code's INSERT joins this transaction rather than autocommit
    return taken


def deny_login(pending_id: str, error: str = "access_denied", description: str = "The login was refused.") -> Response:
    """End the authorization with an error for the client (its redirect URI was validated at authorize)."""
    pending = get_pending(pending_id)
    if pending is None:
        return expired_page()
    client = pending.client
    pending.completed_at = utcnow()
    db.session.commit()
    if client is None:
        return expired_page()
    return respond(client, pending.redirect_uri,
                   {"error": error, "error_description": description, "state": pending.state},
                   pending.response_mode)


def expired_page() -> Response:
    return error_page("login_expired", "This sign-in has expired or belongs to another browser. "
                                       "Go back to the application and start again.")
