"""The console's own cookie (SPEC §12): path ``/admin``, 30 minutes idle, 8 hours absolute, server-side so
that sign-out and ``admin revoke`` end it at once. The cookie holds a random token; the row holds its digest."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import request
from werkzeug.wrappers import Response

from idp_bridge.admin.models import Admin, AdminSession
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)
FRESH = timedelta(minutes=5)  # dangerous actions: a sign-in younger than this (max_age=300)
TOUCH_EVERY = timedelta(seconds=30)  # no write on every page view
PATH = "/admin"


def cookie_name() -> str:
    return "__Secure-idpb_admin" if _https() else "idpb_admin"


def _https() -> bool:
    return current_settings().issuer.startswith("https://")


def start(admin: Admin, auth_time: datetime, response: Response) -> AdminSession:
    token = secrets.token_urlsafe(32)
    row = AdminSession(digest=digest(token), admin_id=admin.id, auth_time=auth_time)
    db.session.add(row)
    db.session.commit()
    response.set_cookie(cookie_name(), token, path=PATH, httponly=True, secure=_https(), samesite="Lax",
                        max_age=int(ABSOLUTE.total_seconds()))
    return row


def current() -> AdminSession | None:
    """This browser's live console session, or None (unknown, ended, idle, too old, or admin revoked)."""
    token = request.cookies.get(cookie_name(), "")
    if not 20 <= len(token) <= 64:
        return None
    row = db.session.scalar(db.select(AdminSession).where(AdminSession.digest == digest(token)))
    now = utcnow()
    if row is None or row.ended_at is not None or row.admin.revoked_at is not None:
        return None
    if now - row.last_seen_at > IDLE or now - row.created_at > ABSOLUTE:
        row.ended_at = now
        db.session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row


def is_fresh(row: AdminSession) -> bool:
    return utcnow() - row.auth_time <= FRESH


def end(row: AdminSession | None, response: Response) -> None:
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        db.session.commit()
    response.delete_cookie(cookie_name(), path=PATH, secure=_https(), httponly=True, samesite="Lax")
