"""The bridge's own sign-in session (SSO): one cookie per browser, a row per session, digest-only."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import g
from sqlalchemy import bindparam
from werkzeug.wrappers import Response

from idp_bridge import autocommit, signals
from idp_bridge.accounts.models import User
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc.cookies import clear_cookie, read_cookie, set_cookie
from idp_bridge.oidc.models import SsoSession, Token
from idp_bridge.oidc.principal import UserRecord, active, user_from_rows, user_select
from idp_bridge.plainsql import Plain
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

COOKIE = "idpb_sso"


def current_session() -> SsoSession | None:
    """The live SSO session of this browser, if any."""
    value = read_cookie(COOKIE)
    if not value:
        return None
    row = db.session.scalar(db.select(SsoSession).where(SsoSession.cookie_digest == digest(value)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row


@dataclass(frozen=True)
class Login:
    """This browser's live SSO session with its user, as the authorization endpoint uses it."""

    sid: str
    connection_id: int | None
    auth_time: int
    user: UserRecord | None  # None when the user is blocked


_SESSIONS = SsoSession.__table__
#: The browser's session (cookie digest ``digest``), live at ``now``: not revoked, not expired.
LIVE_SESSION = (_SESSIONS.c.cookie_digest == bindparam("digest"), _SESSIONS.c.revoked_at.is_(None),
                _SESSIONS.c.expires_at > bindparam("now"))
CURRENT_LOGIN = Plain(
    user_select(_SESSIONS.c.sid, _SESSIONS.c.connection_id, _SESSIONS.c.auth_time, joined_to=_SESSIONS,
                on=User.__table__.c.id == _SESSIONS.c.user_id)
    .where(*LIVE_SESSION))


def current_login() -> Login | None:
    """The live SSO session of this browser and its user, in one plain statement (the authorization
    endpoint's only read on the SSO path, SPEC §16)."""
    value = read_cookie(COOKIE)
    if not value:
        return None
    return login_from_rows(autocommit.rows(CURRENT_LOGIN, login_params(value)))


def login_params(cookie: str) -> dict[str, object]:
    """The parameters of :data:`CURRENT_LOGIN` for the SSO cookie's value."""
    return {"digest": digest(cookie), "now": utcnow()}


def login_from_rows(rows: Sequence[Sequence[Any]]) -> Login | None:
    """The :class:`Login` in the rows of :data:`CURRENT_LOGIN`."""
    if not rows:
        return None
    sid, connection_id, auth_time = rows[0][0], rows[0][1], rows[0][2]
    return Login(sid, connection_id, int(auth_time), active(user_from_rows(rows, skip=3)))


def start_session(user_id: int, connection_id: int | None, *, commit: bool = True) -> tuple[SsoSession, str]:
    """A new session for a fresh login; returns the row and the cookie value to set (``commit=False``: in the
    caller's transaction)."""
    value = secrets.token_urlsafe(32)
    lifetime = current_settings().sso_session_lifetime
    row = SsoSession(
        sid=secrets.token_urlsafe(16),
        cookie_digest=digest(value),
        user_id=user_id,
        connection_id=connection_id,
        auth_time=int(time.time()),
        expires_at=utcnow() + timedelta(seconds=lifetime),
    )
    db.session.add(row)
    if commit:
        db.session.commit()
    return row, value


def attach_cookie(response: Response, value: str) -> None:
    set_cookie(response, COOKIE, value, current_settings().sso_session_lifetime)


def end_current_session(sid_hint: str | None = None) -> None:
    """Log this browser out (and the session named by an ID token's ``sid``); the view clears the cookie."""
    now = utcnow()
    current = current_session()
    ended = []
    if current is not None:
        current.revoked_at = now
        ended.append(current)
    if sid_hint and isinstance(sid_hint, str):
        other = db.session.scalar(db.select(SsoSession).where(SsoSession.sid == sid_hint))
        if other is not None and other.revoked_at is None:
            other.revoked_at = now
            ended.append(other)
    for row in ended:  # back-channel logout to the clients of each session (SPEC §14), in this transaction
        signals.sso_ended.send(None, user_id=row.user_id, sids=[row.sid])
    db.session.commit()
    g.idpb_clear_sso = True


def clear_if_ended(response: Response) -> Response:
    if g.get("idpb_clear_sso"):
        clear_cookie(response, COOKIE)
    return response


def revoke_everything_of(_sender: object, *, user_id: int) -> None:
    """A blocked user keeps no live SSO session or token (receiver of ``signals.user_blocked``); the
    sender commits. Also the console's "sign out everywhere". Observers of ``signals.sessions_revoking`` (the
    back-channel logouts, SPEC §14) see the sessions before they end, in this transaction."""
    signals.sessions_revoking.send(None, user_id=user_id)
    now = utcnow()
    db.session.execute(db.update(SsoSession).where(SsoSession.user_id == user_id, SsoSession.revoked_at.is_(None))
                       .values(revoked_at=now))
    db.session.execute(db.update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None))
                       .values(revoked_at=now))
