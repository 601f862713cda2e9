"""The hosted login page, its status channel, and completion (SPEC §7). Only the browser holding the
pending authorization's cookie sees or completes anything; the openid never reaches the browser.

The status channel has two forms with the same payload: a server-sent-events stream (push within 0.5 s)
and a plain JSON ``status`` poll, which the page uses whenever a stream is refused (caps, SPEC §15) or
fails (an outage), so that a waiting page always converges.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import segno
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from idp_bridge.accounts.resolve import MAX_BINDING_ATTEMPTS, bind
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.login import codes, limits, notify, sessions, webauth
from idp_bridge.login.dispatcher import decide
from idp_bridge.login.errors import PendingGone, TooManyStreams, UnknownLoginSession
from idp_bridge.login.i18n import language, words
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import LIVE, State
from idp_bridge.login.streams import (
    HANDOFF_KEY,
    SLOTS,
    Handoff,
    SessionView,
    Snapshot,
    StreamPlan,
    delivered,
    sse_event,
)
from idp_bridge.numbers import parse_int_or
from idp_bridge.oidc import seam
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.ratelimit import client_address_key
from idp_bridge.security import csrf
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.reach import qr_capable

bp = Blueprint("login", __name__)
log = logging.getLogger(__name__)
STREAM_SECONDS = 25.0
SAFETY_NET_SECONDS = 2.0
POLL_AFTER_SECONDS = 5  # Retry-After of a refused stream: the page polls instead meanwhile
MAX_ID_LENGTH = 64


@bp.after_request
def _no_store(response: Response) -> Response:
    """Login pages and their status carry per-browser state: never cached (RFC 9111 §5.2.2.5)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@bp.errorhandler(PendingGone)
def _gone(_error: PendingGone) -> Response:
    return seam.expired_page()


@bp.errorhandler(UnknownLoginSession)
def _unknown(_error: UnknownLoginSession) -> Response:
    return Response("unknown login session\n", status=404, mimetype="text/plain")


@bp.errorhandler(TooManyStreams)
def _too_many(error: TooManyStreams) -> Response:
    response = Response("too many open status streams; poll the status instead\n", status=429,
                        mimetype="text/plain")
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _qr_svg(url: str) -> Markup:
    """The QR rendered here, from WeChat's ``url``: no image fetched from WeChat, no external asset."""
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#111", light="#fff", omitsize=True,
                                                title="WeChat QR code")
    return Markup(svg)


def _message(session: LoginSession | SessionView | None, t: dict[str, str], app_name: str) -> str:
    if session is None:
        return t["error"]
    if session.state == State.WAITING and not session.qr_url:  # code-only (subscription account, SPEC §13)
        return t["waiting_code"]
    if session.state == State.REFUSED:
        return t.get(f"refused_{session.refusal}", t["refused"]).format(app=app_name)
    return t.get(session.state, t["waiting"]).format(app=app_name)


def _next_url(pending_id: str, session: LoginSession) -> str:
    return url_for("login.complete", pending_id=pending_id, ls=session.id)


def _render(pending: PendingAuthorization, connection: Connection | None, session: LoginSession | None,
            status: int = 200, error: str | None = None, binding_error: str | None = None,
            login_code: str | None = None, notice: str | None = None, long_press: bool = False) -> Response:
    client = pending.client
    app_name = client.name if client else "?"
    lang = language(pending.ui_locales)
    t = words(lang)
    live = session is not None and State(session.state) in LIVE
    code_seconds = None
    if login_code and session is not None and session.login_code_expires_at is not None:
        code_seconds = max(1, int((session.login_code_expires_at - utcnow()).total_seconds()))
    body = render_template(
        "login/page.html", t=t, lang=lang, app_name=app_name, connection=connection, session=session,
        pending=pending, popup=pending.display == "popup", error=error, binding_error=binding_error,
        qr=_qr_svg(session.qr_url) if session is not None and live and session.qr_url else None,
        login_code=codes.display(login_code) if login_code else None, code_seconds=code_seconds, notice=notice,
        long_press=long_press,
        account_qr=_qr_svg(connection.account_qr_url) if login_code and connection and connection.account_qr_url
        else None,
        next_url=_next_url(pending.id, session) if session is not None and session.state == State.SUCCEEDED
        else None,
        message=error or _message(session, t, app_name), simulator=current_settings().simulator,
        max_attempts=MAX_BINDING_ATTEMPTS)
    return Response(body, status=status, mimetype="text/html")


def _pending(pending_id: str) -> PendingAuthorization:
    pending = seam.get_pending(pending_id)
    if pending is None:
        raise PendingGone()
    return pending


def _connection(pending: PendingAuthorization, identifier: str | None) -> list[Connection]:
    client = pending.client
    options = client.allowed_connections() if client else []
    if identifier:
        return [c for c in options if c.identifier == identifier]
    return options


@bp.get("/login/<pending_id>")
def page(pending_id: str) -> Response:
    pending = _pending(pending_id)
    options = _connection(pending, request.args.get("connection"))
    t = words(language(pending.ui_locales))
    if not options:
        return _render(pending, None, None, 409, error=t["no_connection"])
    if len(options) > 1:
        body = render_template("login/choose.html", t=t, lang=language(pending.ui_locales), options=options,
                               pending=pending, app_name=pending.client.name if pending.client else "",
                               popup=pending.display == "popup")
        return Response(body, mimetype="text/html")
    connection = options[0]
    session = sessions.for_pending(pending.id, connection.id)
    if session is not None:
        sessions.refresh_expiry(session)
    web_auth = webauth.applies(connection, request.headers.get("User-Agent"), request.args.get("qr"))
    wants_new = session is None or session.state == State.EXPIRED or (
        session.state == State.REFUSED and request.args.get("retry") == "1") or (
        session.state == State.WAITING and not session.qr_url and not web_auth and qr_capable(connection))
    if wants_new:
        verdict = limits.allow_qr(connection.id, connection.identifier, request.remote_addr or "?",
                                  current_settings().qr_per_ip_per_minute)
        if not verdict.allowed:
            return _render(pending, connection, None, 429, error=t["rate"])
        try:
            session = sessions.create(pending.id, connection, with_qr=not web_auth)
        except WeChatError as exc:
            current_app.logger.error("QR creation failed on %s: %s", connection.identifier, exc)
            return _render(pending, connection, None, 502, error=t["wechat_error"].format(detail=exc.hint))
    if web_auth and session is not None and session.state == State.WAITING:
        state = webauth.issue_state(session)
        if state is not None:  # inside WeChat: its silent web authorization instead of a QR (SPEC §13)
            return redirect(webauth.authorize_url(connection, state), code=303)
    notice = t.get(f"notice_{request.args.get('notice')}") if request.args.get("notice") else None
    return _render_live(pending, connection, session, notice=notice)


def _render_live(pending: PendingAuthorization, connection: Connection, session: LoginSession | None,
                 notice: str | None = None) -> Response:
    """The page of a live session; on a code-login connection every view shows a fresh code (SPEC §13: one
    live code per session; only its digest is stored, so a reload replaces it rather than showing it again)."""
    login_code = None
    if session is not None and connection.code_login and session.state == State.WAITING:
        login_code = codes.issue(session)
    return _render(pending, connection, session, login_code=login_code, notice=notice,
                   long_press=request.args.get("notice") == "follow")


def _own_session(pending_id: str, session_id: str | None) -> LoginSession | None:
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return None
    row = db.session.get(LoginSession, session_id)
    return row if row is not None and row.pending_id == pending_id else None


def _status_payload(row: LoginSession | SessionView, t: dict[str, str], app_name: str,
                    next_url: str) -> dict[str, object]:
    data: dict[str, object] = {"state": row.state, "message": _message(row, t, app_name), "version": row.version}
    if row.state == State.SUCCEEDED:
        data["next"] = next_url
    return data


def _status_context(pending_id: str) -> tuple[PendingAuthorization, LoginSession]:
    pending = seam.get_pending(pending_id)
    row = _own_session(pending_id, request.args.get("ls")) if pending is not None else None
    if pending is None or row is None:
        raise UnknownLoginSession()
    return pending, row


@bp.get("/login/<pending_id>/status")
def status(pending_id: str) -> Response:
    """The login session's state now, as JSON: the polling form of the status channel."""
    pending, row = _status_context(pending_id)
    sessions.refresh_expiry(row)
    t = words(language(pending.ui_locales))
    return jsonify(_status_payload(row, t, pending.client.name if pending.client else "", _next_url(pending_id, row)))


def _snapshot(row: LoginSession, t: dict[str, str], app_name: str, next_url: str) -> Snapshot:
    """The row as the page sees it, after turning a live session past its QR's life into ``expired``."""
    sessions.refresh_expiry(row)
    return _snapshot_of(row, t, app_name, next_url)


def _snapshot_of(row: LoginSession | SessionView, t: dict[str, str], app_name: str, next_url: str) -> Snapshot:
    payload = _status_payload(row, t, app_name, next_url)
    return Snapshot(payload=payload, version=int(row.version), finished=State(row.state) not in LIVE,
                    event_at=row.event_at, expires_at=row.expires_at)


def _viewer(t: dict[str, str], app_name: str, next_url: str) -> Callable[[SessionView], Snapshot | None]:
    """The snapshot of a session's columns read on the event loop (``login.streams.read_view``); None for a
    live session past its QR's life, which only the threaded read (:func:`_reader`) may turn ``expired``."""

    def view(columns: SessionView) -> Snapshot | None:
        if State(columns.state) in LIVE and columns.expires_at <= utcnow():
            return None
        return _snapshot_of(columns, t, app_name, next_url)

    return view


def _reader(app: Flask, session_id: str, t: dict[str, str], app_name: str,
            next_url: str) -> Callable[[], Snapshot | None]:
    """A re-read of the session for a stream, in its own app context (any thread); None when the session is
    gone or the database is unavailable (the stream ends: the page reconnects or polls until it is back)."""

    def read() -> Snapshot | None:
        with app.app_context():
            try:
                current = db.session.get(LoginSession, session_id)
                return None if current is None else _snapshot(current, t, app_name, next_url)
            except OperationalError as exc:
                log.warning("status stream ended: database unavailable (%s)", type(exc.orig).__name__)
                return None
            finally:
                db.session.remove()

    return read


@bp.get("/login/<pending_id>/events")
def events(pending_id: str) -> Response:
    """Server-sent events: the session's state now and on every change (then the browser reconnects).
    No database connection is held while waiting; the stream holds a capped slot.

    Under ``idp-bridge serve`` the checked stream is handed to the worker's event loop
    (:mod:`idp_bridge.streaming`), where waiting holds no thread; elsewhere (the development server) this
    thread runs it for ≤ 25 s."""
    pending, row = _status_context(pending_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = current_settings()
    address = client_address_key(request.remote_addr)
    session_id, app_name = row.id, pending.client.name if pending.client else ""
    slots = SLOTS
    if not slots.acquire(session_id, address, settings.streams_per_ip):
        raise TooManyStreams(POLL_AFTER_SECONDS)
    held = [True]

    def release() -> None:
        """Once, whichever comes first: the stream ends, or the server closes the response (also when the
        client left before the first byte, when the generator never ran)."""
        if held[0]:
            held[0] = False
            slots.release(session_id, address)

    try:
        notify.HUB.ensure_listener(settings.database_url, settings.redis_url)
        t = words(language(pending.ui_locales))
        seen = parse_int_or(request.headers.get("Last-Event-ID"), -1, maximum=2**31)
        next_url = _next_url(pending_id, row)
        read = _reader(app, session_id, t, app_name, next_url)
        handoff = request.environ.get("asgi.scope", {}).get(HANDOFF_KEY)
        if isinstance(handoff, Handoff):
            handoff.plan = StreamPlan(session_id=session_id, seen=seen, first=_snapshot(row, t, app_name, next_url),
                                      read=read, release=release, view=_viewer(t, app_name, next_url))
            db.session.remove()
            return Response(iter(()), mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})
        db.session.remove()
    except BaseException:
        release()
        raise

    def stream() -> Iterator[str]:
        nonlocal seen
        try:
            yield "retry: 1000\n\n"
            deadline = time.monotonic() + STREAM_SECONDS
            version = notify.HUB.version
            while True:
                snapshot = read()
                if snapshot is None:
                    return
                if snapshot.version != seen:
                    seen = snapshot.version
                    delivered(snapshot)
                    yield sse_event(snapshot.payload)
                else:
                    yield ":\n\n"  # an SSE comment: a client that left is noticed now, freeing its slot
                if snapshot.finished or time.monotonic() >= deadline or notify.SHUTDOWN.is_set():
                    return
                version = notify.HUB.wait(version, min(SAFETY_NET_SECONDS, max(0.0, deadline - time.monotonic())))
        finally:
            release()

    response = Response(stream(), mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})
    response.call_on_close(release)
    return response


@bp.get("/login/<pending_id>/complete")
def complete(pending_id: str) -> Response:
    """Finish in the browser that holds the cookie: consume the success once, then resume authorize.

    The move to ``completed``, the SSO session (recorded only by the request that wins the move) and the
    resumed authorization's code commit together, in the one transaction of this last leg before the relying
    party."""
    pending = _pending(pending_id)
    row = _own_session(pending_id, request.args.get("ls"))
    if row is None or row.state != State.SUCCEEDED or row.user_id is None:
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    session_id, user_id, connection_id = row.id, row.user_id, row.connection_id
    completion = seam.prepare_completion(pending_id, user_id, connection_id=connection_id, pending=pending,
                                         new_follower=row.followed)
    if isinstance(completion, Response):
        return completion
    with sessions.moving(session_id, State.SUCCEEDED, State.COMPLETED, on_win=completion.record) as won:
        if not won:
            return redirect(url_for("login.page", pending_id=pending_id), code=303)
        return completion.response()


@bp.post("/login/<pending_id>/bind")
def bind_code(pending_id: str) -> Response:
    """First login on a binding connection: a one-time code links *the session's scanner* to its user.

    The attempt is counted before the code is evaluated (SPEC §15), and the scanner's openid was fixed by the
    first scan, so neither concurrent guesses nor a second scanner can change what gets bound."""
    csrf.verify(request.form.get(csrf.FIELD))
    pending = _pending(pending_id)
    row = _own_session(pending_id, request.form.get("ls"))
    if row is None or row.state != State.BINDING or row.openid is None:
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    connection = db.session.get(Connection, row.connection_id)
    if connection is None:
        raise PendingGone()
    t = words(language(pending.ui_locales))
    code = (request.form.get("code") or "").strip()[:32]
    if not code:
        return _render(pending, connection, row, 400, binding_error=t["binding_wrong"].format(
            left=MAX_BINDING_ATTEMPTS - row.binding_attempts))
    scanner, unionid = row.openid, row.unionid
    attempt = sessions.count_attempt(row, "binding", MAX_BINDING_ATTEMPTS)
    if attempt is None:
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    outcome = bind(connection, scanner, unionid, code)
    if outcome is None:
        if attempt >= MAX_BINDING_ATTEMPTS:
            sessions.transition(row, State.BINDING, State.REFUSED, scanner=scanner, refusal="binding")
            return _render(pending, connection, row, 403)
        return _render(pending, connection, row, 400,
                       binding_error=t["binding_wrong"].format(left=MAX_BINDING_ATTEMPTS - attempt))
    decide(row, connection, outcome, unionid, source=State.BINDING)
    if row.state == State.SUCCEEDED:
        return redirect(_next_url(pending_id, row), code=303)
    return redirect(url_for("login.page", pending_id=pending_id), code=303)


@bp.get("/login/<pending_id>/cancel")
def cancel(pending_id: str) -> Response:
    """The user gives up: the application gets ``access_denied``."""
    _pending(pending_id)
    return seam.deny_login(pending_id, "access_denied", "The user cancelled the sign-in.")
