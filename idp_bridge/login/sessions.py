"""Login sessions: create and renew the QR code, move through the states, tell the waiting page."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import current_app

from idp_bridge import signals
from idp_bridge.extensions import db
from idp_bridge.login import notify
from idp_bridge.login.models import EXPIRED, LIVE_STATES, LoginSession
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)


def new_scene(connection: Connection) -> str:
    """Prefix + 128 random bits (22 URL-safe characters): unguessable, ≤ 64 characters as WeChat requires."""
    return connection.scene_prefix + secrets.token_urlsafe(16)


def for_pending(pending_id: str, connection_id: int) -> LoginSession | None:
    return db.session.scalar(db.select(LoginSession).where(LoginSession.pending_id == pending_id,
                                                          LoginSession.connection_id == connection_id)
                             .order_by(LoginSession.created_at.desc()))


def create(pending_id: str, connection: Connection) -> LoginSession:
    """Ask WeChat for a temporary QR code (may raise ``WeChatError``) and store the session."""
    settings = current_app.config["IDP_BRIDGE"]
    scene = new_scene(connection)
    qr = client_for(connection).create_qrcode(scene, settings.qr_expire_seconds)
    session = LoginSession(id=secrets.token_urlsafe(16), pending_id=pending_id, connection_id=connection.id,
                           scene=scene, ticket=qr.ticket, qr_url=qr.url,
                           expires_at=utcnow() + timedelta(seconds=min(qr.expire_seconds, settings.qr_expire_seconds)))
    db.session.add(session)
    db.session.commit()
    from idp_bridge.login.limits import DAILY_BUDGET, budget_used

    signals.qr_created.send(None, connection=connection.identifier, used=budget_used(connection.id),
                            budget=DAILY_BUDGET)
    return session


def refresh_expiry(session: LoginSession) -> LoginSession:
    """A waiting session past its QR's life becomes ``expired`` (the page then asks for a new one)."""
    if session.state in LIVE_STATES and session.expires_at <= utcnow():
        change(session, state=EXPIRED)
    return session


def change(session: LoginSession, **fields: object) -> None:
    """Apply a state change, commit, and wake every page waiting on it (all workers)."""
    for name, value in fields.items():
        setattr(session, name, value)
    session.version = (session.version or 0) + 1
    db.session.commit()
    settings = current_app.config["IDP_BRIDGE"]
    notify.publish(session.id, settings.database_url, settings.redis_url)


def by_scene(connection_id: int, scene: str) -> LoginSession | None:
    return db.session.scalar(db.select(LoginSession).where(LoginSession.connection_id == connection_id,
                                                          LoginSession.scene == scene))
