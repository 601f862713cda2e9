"""The hosted login page, its status stream, and completion (SPEC §7). Only the browser holding the
pending authorization's cookie sees or completes anything; the openid never reaches the browser."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import segno
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from idp_bridge import signals
from idp_bridge.accounts.resolve import MAX_BINDING_ATTEMPTS, bind
from idp_bridge.config import Settings
from idp_bridge.extensions import db
from idp_bridge.login import limits, notify, sessions
from idp_bridge.login.i18n import language, words
from idp_bridge.login.models import (
    BINDING,
    COMPLETED,
    EXPIRED,
    LIVE_STATES,
    REFUSED,
    SUCCEEDED,
    LoginSession,
)
from idp_bridge.oidc import seam
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.security import csrf
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection

bp = Blueprint("login", __name__)
STREAM_SECONDS = 25.0
SAFETY_NET_SECONDS = 2.0


def _settings() -> Settings:
    return current_app.config["IDP_BRIDGE"]


def _qr_svg(url: str) -> Markup:
    """The QR rendered here, from WeChat's ``url``: no image fetched from WeChat, no external asset."""
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#111", light="#fff", omitsize=True,
                                                title="WeChat QR code")
    return Markup(svg)


def _message(session: LoginSession | None, t: dict[str, str], app_name: str) -> str:
    if session is None:
        return t["error"]
    if session.state == REFUSED:
        return t.get(f"refused_{session.refusal}", t["refused"]).format(app=app_name)
    return t.get(session.state, t["waiting"]).format(app=app_name)


def _render(pending: PendingAuthorization, connection: Connection | None, session: LoginSession | None,
            status: int = 200, error: str | None = None, binding_error: str | None = None) -> Response:
    client = pending.client
    app_name = client.name if client else "?"
    lang = language(pending.ui_locales)
    t = words(lang)
    body = render_template(
        "login/page.html", t=t, lang=lang, app_name=app_name, connection=connection, session=session,
        pending=pending, popup=pending.display == "popup", error=error, binding_error=binding_error,
        qr=_qr_svg(session.qr_url) if session is not None and session.state in LIVE_STATES else None,
        message=error or _message(session, t, app_name), simulator=_settings().simulator,
        max_attempts=MAX_BINDING_ATTEMPTS)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _pending_or_page(pending_id: str) -> PendingAuthorization | Response:
    pending = seam.get_pending(pending_id)
    if pending is None:
        return seam.expired_page()
    return pending


def _connection(pending: PendingAuthorization, identifier: str | None) -> list[Connection]:
    client = pending.client
    options = client.allowed_connections() if client else []
    if identifier:
        return [c for c in options if c.identifier == identifier]
    return options


@bp.get("/login/<pending_id>")
def page(pending_id: str) -> Response:
    pending = _pending_or_page(pending_id)
    if isinstance(pending, Response):
        return pending
    options = _connection(pending, request.args.get("connection"))
    t = words(language(pending.ui_locales))
    if not options:
        return _render(pending, None, None, 409, error=t["no_connection"])
    if len(options) > 1:
        body = render_template("login/choose.html", t=t, lang=language(pending.ui_locales), options=options,
                               pending=pending, app_name=pending.client.name if pending.client else "",
                               popup=pending.display == "popup")
        return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})
    connection = options[0]
    session = sessions.for_pending(pending.id, connection.id)
    if session is not None:
        sessions.refresh_expiry(session)
    wants_new = session is None or session.state == EXPIRED or (
        session.state == REFUSED and request.args.get("retry") == "1")
    if wants_new:
        verdict = limits.allow_qr(connection.id, connection.identifier, request.remote_addr or "?",
                                  _settings().qr_per_ip_per_minute)
        if not verdict.allowed:
            return _render(pending, connection, None, 429, error=t["rate"])
        try:
            session = sessions.create(pending.id, connection)
        except WeChatError as exc:
            current_app.logger.error("QR creation failed on %s: %s", connection.identifier, exc)
            return _render(pending, connection, None, 502, error=t["wechat_error"].format(detail=exc.hint))
    return _render(pending, connection, session)


def _own_session(pending_id: str, session_id: str | None) -> LoginSession | None:
    if not session_id or len(session_id) > 32:
        return None
    row = db.session.get(LoginSession, session_id)
    return row if row is not None and row.pending_id == pending_id else None


def _event(row: LoginSession, t: dict[str, str], app_name: str, next_url: str) -> str:
    data = {"state": row.state, "message": _message(row, t, app_name)}
    if row.state == SUCCEEDED:
        data["next"] = next_url
    return f"id: {row.version}\nevent: state\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/login/<pending_id>/events")
def events(pending_id: str) -> Response:
    """Server-sent events: the session's state now and on every change, for ≤ 25 s (then the browser
    reconnects). No database connection is held while waiting."""
    pending = seam.get_pending(pending_id)
    row = _own_session(pending_id, request.args.get("ls")) if pending is not None else None
    if pending is None or row is None:
        return Response("unknown login session\n", status=404, mimetype="text/plain")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = _settings()
    notify.HUB.ensure_listener(settings.database_url, settings.redis_url)
    session_id, app_name = row.id, pending.client.name if pending.client else ""
    t = words(language(pending.ui_locales))
    last = request.headers.get("Last-Event-ID", "")
    seen = int(last) if last.isdigit() else -1
    next_url = url_for("login.complete", pending_id=pending_id, ls=session_id)
    db.session.remove()

    def stream() -> Iterator[str]:
        nonlocal seen
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        version = notify.HUB.version
        while True:
            with app.app_context():
                current = db.session.get(LoginSession, session_id)
                if current is None:
                    return
                sessions.refresh_expiry(current)
                if current.version != seen:
                    seen = current.version
                    if current.state == SUCCEEDED and current.event_at is not None:
                        signals.login_delivered.send(None, seconds=(utcnow() - current.event_at).total_seconds())
                    yield _event(current, t, app_name, next_url)
                finished = current.state not in LIVE_STATES
                db.session.remove()
            if finished or time.monotonic() >= deadline or notify.SHUTDOWN.is_set():
                return
            version = notify.HUB.wait(version, min(SAFETY_NET_SECONDS, max(0.0, deadline - time.monotonic())))

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@bp.get("/login/<pending_id>/complete")
def complete(pending_id: str) -> Response:
    """Finish in the browser that holds the cookie: consume the success once, then resume authorize."""
    pending = _pending_or_page(pending_id)
    if isinstance(pending, Response):
        return pending
    row = _own_session(pending_id, request.args.get("ls"))
    if row is None or row.state != SUCCEEDED or row.user_id is None:
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    taken = db.session.execute(db.update(LoginSession).where(LoginSession.id == row.id,
                                                             LoginSession.state == SUCCEEDED)
                               .values(state=COMPLETED))
    db.session.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    return seam.complete_login(pending_id, row.user_id, connection_id=row.connection_id)


@bp.post("/login/<pending_id>/bind")
def bind_code(pending_id: str) -> Response:
    """First login on a binding connection: a one-time code links this WeChat account to its user."""
    csrf.verify(request.form.get(csrf.FIELD))
    pending = _pending_or_page(pending_id)
    if isinstance(pending, Response):
        return pending
    row = _own_session(pending_id, request.form.get("ls"))
    if row is None or row.state != BINDING or row.openid is None:
        return redirect(url_for("login.page", pending_id=pending_id), code=303)
    connection = db.session.get(Connection, row.connection_id)
    assert connection is not None
    code = (request.form.get("code") or "")[:32]
    outcome = bind(connection, row.openid, row.unionid, code) if code else None
    t = words(language(pending.ui_locales))
    if outcome is None:
        attempts = row.binding_attempts + 1
        if attempts >= MAX_BINDING_ATTEMPTS:
            sessions.change(row, binding_attempts=attempts, state=REFUSED, refusal="binding")
            return _render(pending, connection, row, 403)
        sessions.change(row, binding_attempts=attempts)
        return _render(pending, connection, row, 400,
                       binding_error=t["binding_wrong"].format(left=MAX_BINDING_ATTEMPTS - attempts))
    if outcome.kind != "success":
        sessions.change(row, state=REFUSED, refusal=outcome.reason)
        return _render(pending, connection, row, 403)
    sessions.change(row, state=SUCCEEDED, user_id=outcome.user_id)
    return redirect(url_for("login.complete", pending_id=pending_id, ls=row.id), code=303)


@bp.get("/login/<pending_id>/cancel")
def cancel(pending_id: str) -> Response:
    """The user gives up: the application gets ``access_denied``."""
    if seam.get_pending(pending_id) is None:
        return seam.expired_page()
    return seam.deny_login(pending_id, "access_denied", "The user cancelled the sign-in.")
