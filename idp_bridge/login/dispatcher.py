"""The login event handler (implements ``wechat.dispatch``): a verified scan of a live scene becomes a
decision about a user. It runs inside WeChat's 5-second window, so the ``user/info`` call is bounded and its
failure never fails the login (the unionid is then filled in on a later login)."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta, timezone

from idp_bridge import audit, signals
from idp_bridge.accounts.resolve import resolve
from idp_bridge.extensions import db
from idp_bridge.login import sessions
from idp_bridge.login.models import BINDING, CONFIRM, LIVE_STATES, REFUSED, SCANNED, SUCCEEDED, LoginSession
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.dispatch import LoginEvent
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)
USER_INFO_TIMEOUT = 1.5
MAX_CONFIRM_ATTEMPTS = 3
BEIJING = timezone(timedelta(hours=8))
CONFIRM_PROMPT = ("要登录「{app}」，请在此对话中回复登录页上显示的 4 位数字。"
                  "/ To sign in to {app}, reply with the 4-digit code shown on the login page.")
CONFIRMED = "已确认，登录成功。/ Confirmed: you are signed in."
CONFIRM_WRONG = "数字不正确，请核对登录页。/ That code does not match the login page."
CONFIRM_REFUSED = "错误次数过多，登录已取消。/ Too many wrong codes: the sign-in was cancelled."


def _unionid(connection: Connection, openid: str) -> str | None:
    try:
        return client_for(connection).user_info(openid, timeout=USER_INFO_TIMEOUT).unionid
    except WeChatError as exc:
        log.warning("user/info failed for a login on %s (%s); continuing without unionid",
                    connection.identifier, exc.errcode)
        return None


def handle_login_event(event: LoginEvent) -> str | None:
    """Scene → login session → user decision → passive reply text (the connection's, or none)."""
    started = time.monotonic()
    session = sessions.by_scene(event.connection_id, event.scene)
    if session is None or session.state not in LIVE_STATES or session.expires_at <= utcnow():
        log.info("login event for an unknown or finished scene on %s ignored", event.connection_identifier)
        return None
    connection = db.session.get(Connection, event.connection_id)
    if connection is None:
        return None
    sessions.change(session, state=SCANNED, openid=event.openid, event_at=utcnow())
    unionid = _unionid(connection, event.openid)
    outcome = resolve(connection, event.openid, unionid)
    app_name = _app_name(session)
    if outcome.kind == "success" and connection.confirm_in_wechat:
        sessions.change(session, state=CONFIRM, user_id=outcome.user_id, unionid=unionid,
                        confirm_code=f"{secrets.randbelow(10000):04d}")
        return CONFIRM_PROMPT.format(app=app_name)
    if outcome.kind == "success":
        sessions.change(session, state=SUCCEEDED, user_id=outcome.user_id, unionid=unionid)
    elif outcome.kind == "binding":
        sessions.change(session, state=BINDING, unionid=unionid)
    else:
        sessions.change(session, state=REFUSED, refusal=outcome.reason, user_id=outcome.user_id)
    log.info("login event on %s → %s in %.0f ms", connection.identifier, outcome.kind,
             (time.monotonic() - started) * 1000)
    audit.record(f"login.{outcome.kind}", actor=f"user:{outcome.user_id or '-'}", target=connection.identifier,
                 outcome=outcome.reason or "ok", login_session=session.id)
    signals.login_decided.send(None, connection=connection.identifier,
                               outcome=outcome.kind if outcome.kind != "refused" else f"refused_{outcome.reason}")
    if outcome.kind == "refused":
        return None
    return render_reply(connection.reply_text, app_name)


def _app_name(session: LoginSession) -> str:
    pending = db.session.get(PendingAuthorization, session.pending_id)
    client = pending.client if pending is not None else None
    return client.name if client is not None else "idp-bridge"


def render_reply(template: str, app_name: str) -> str | None:
    """The connection's reply with ``{app}`` and ``{time}`` (Beijing time) filled in; empty means none."""
    if not template:
        return None
    now = datetime.now(BEIJING).strftime("%H:%M")
    return template.replace("{app}", app_name).replace("{time}", now)


def handle_text(connection_id: int, openid: str, content: str) -> str | None:
    """A chat message: the confirmation code of a login waiting in the ``confirm`` state, if any."""
    code = content.strip()
    if not code.isdigit() or len(code) != 4:
        return None
    session = db.session.scalar(
        db.select(LoginSession).where(LoginSession.connection_id == connection_id, LoginSession.openid == openid,
                                      LoginSession.state == CONFIRM).order_by(LoginSession.updated_at.desc()))
    if session is None or session.expires_at <= utcnow():
        return None
    if secrets.compare_digest(code, session.confirm_code or ""):
        sessions.change(session, state=SUCCEEDED)
        audit.record("login.confirmed", actor=f"user:{session.user_id}", target=str(connection_id))
        return CONFIRMED
    attempts = session.binding_attempts + 1
    if attempts >= MAX_CONFIRM_ATTEMPTS:
        sessions.change(session, binding_attempts=attempts, state=REFUSED, refusal="confirm")
        return CONFIRM_REFUSED
    sessions.change(session, binding_attempts=attempts)
    return CONFIRM_WRONG
