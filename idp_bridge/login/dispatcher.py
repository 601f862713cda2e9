"""The login event handler (implements ``wechat.dispatch``): a verified scan of a live scene becomes a
decision about a user. It runs inside WeChat's 5-second window, so the ``user/info`` call is bounded and its
failure never fails the login (the unionid is then filled in on a later login)."""

from __future__ import annotations

import logging
import time

from flask import current_app

from idp_bridge import audit
from idp_bridge.accounts.resolve import resolve
from idp_bridge.extensions import db
from idp_bridge.login import sessions
from idp_bridge.login.models import BINDING, LIVE_STATES, REFUSED, SCANNED, SUCCEEDED
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.dispatch import LoginEvent
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)
USER_INFO_TIMEOUT = 1.5


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
    on_outcome = current_app.extensions.get("idp_bridge.login_outcome")
    if callable(on_outcome):
        on_outcome(connection.identifier, outcome.kind if outcome.kind != "refused" else f"refused_{outcome.reason}")
    if outcome.kind == "refused":
        return None
    return connection.reply_text or None
