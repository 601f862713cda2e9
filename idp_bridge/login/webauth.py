"""In-WeChat web authorization (SPEC §13): inside WeChat's own browser a person cannot scan the QR code shown
on the phone they hold, so the page sends the browser through WeChat's silent ``snsapi_base`` authorization,
which returns with a ``code`` that the server exchanges for the openid of *this* account — the same openid its
follow events carry, so web-auth, QR and code logins of one person are one identity.

The ``state`` round-trips through WeChat like OAuth's (RFC 6749 §10.12): 256 random bits, only its digest kept
on the login session, single-use (consumed by one conditional UPDATE), 5 minutes, and honoured only for the
browser holding the pending authorization's cookie, so a link carried to another browser, or replayed, signs
nobody in.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import State
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import Connection

STATE_SECONDS = 5 * 60
MAX_STATE_LENGTH = 64
WECHAT_UA_MARK = "micromessenger"


def is_wechat_browser(user_agent: str | None) -> bool:
    """WeChat's in-app browser says ``MicroMessenger/<version>`` in its User-Agent (WeChat JS-SDK docs); case is
    ignored because some Android builds lower-case it."""
    return bool(user_agent) and WECHAT_UA_MARK in str(user_agent).lower()


def applies(connection: Connection, user_agent: str | None, qr_param: str | None) -> bool:
    """Web authorization is used on a ``--web-auth`` connection inside WeChat, unless the page was asked for
    the QR (``qr=1``: a fallback after a failure, or a person who must follow first)."""
    return bool(connection.web_auth) and qr_param != "1" and is_wechat_browser(user_agent)


def issue_state(session: LoginSession) -> str | None:
    """A fresh state for ``session`` (replacing any earlier one); ``None`` when the session is no longer waiting."""
    state = secrets.token_urlsafe(32)
    result = db.session.execute(
        db.update(LoginSession)
        .where(LoginSession.id == session.id, LoginSession.state == State.WAITING.value)
        .values(oauth_state_digest=digest(state), oauth_state_expires_at=utcnow() + timedelta(seconds=STATE_SECONDS))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return state if result.rowcount == 1 else None  # type: ignore[attr-defined]


def consume_state(connection: Connection, state: str | None) -> LoginSession | None:
    """The waiting login session this state was issued for, consumed once; ``None`` for an unknown, expired,
    replayed or foreign state (the caller checks the browser cookie through the pending authorization)."""
    if not state or len(state) > MAX_STATE_LENGTH:
        return None
    wanted = digest(state)
    session = db.session.scalar(db.select(LoginSession).where(
        LoginSession.connection_id == connection.id, LoginSession.oauth_state_digest == wanted))
    if session is None:
        return None
    result = db.session.execute(
        db.update(LoginSession)
        .where(LoginSession.id == session.id, LoginSession.oauth_state_digest == wanted,
               LoginSession.oauth_state_expires_at > utcnow(), LoginSession.state == State.WAITING.value)
        .values(oauth_state_digest=None, oauth_state_expires_at=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return session if result.rowcount == 1 else None  # type: ignore[attr-defined]


def authorize_url(connection: Connection, state: str) -> str:
    """WeChat's web-authorization URL (``connect/oauth2/authorize``; the ``#wechat_redirect`` fragment is
    required by WeChat). The redirect URI's host must be the account's web-authorization domain."""
    settings = current_settings()
    query = urlencode({"appid": connection.app_id,
                       "redirect_uri": f"{settings.issuer}/login/oauth/{connection.identifier}",
                       "response_type": "code", "scope": "snsapi_base", "state": state})
    return f"{settings.wechat_open_base}/connect/oauth2/authorize?{query}#wechat_redirect"
