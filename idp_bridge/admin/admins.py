"""Who may use the console (SPEC §12): one-time invites, roles, revocation. Shared by the console's Admins
screen and ``idp-bridge admin invite|list|revoke`` so both apply the same rules."""

from __future__ import annotations

import secrets
from datetime import timedelta

from idp_bridge import audit
from idp_bridge.admin.models import ROLES, Admin, AdminInvite, AdminSession
from idp_bridge.extensions import db
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError

INVITE_LIFETIME = timedelta(hours=24)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError("role", f"must be one of {', '.join(ROLES)}")
    return role


def invite_url(issuer: str, token: str) -> str:
    return f"{issuer}/admin/invite/{token}"


def create_invite(role: str) -> tuple[str, AdminInvite]:
    """A 256-bit one-time token (only its digest is stored), valid 24 h; returns the token and the row."""
    token = secrets.token_urlsafe(32)
    row = AdminInvite(digest=digest(token), role=check_role(role), created_by=audit.current_actor(),
                      expires_at=utcnow() + INVITE_LIFETIME)
    db.session.add(row)
    db.session.commit()
    audit.record("admin.invite", actor=audit.current_actor(), target=role, invite=row.id)
    return token, row


def usable_invite(token: str) -> AdminInvite | None:
    key = lookup_key(token, 128)
    if key is None:
        return None
    row = db.session.scalar(db.select(AdminInvite).where(AdminInvite.digest == digest(key)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def redeem(token: str, sub: str) -> Admin | None:
    """Use the invite for ``sub`` (compare-and-set on ``used_at``, so two sign-ins cannot both use it)."""
    row = usable_invite(token)
    if row is None:
        return None
    claimed = db.session.execute(db.update(AdminInvite).where(AdminInvite.id == row.id, AdminInvite.used_at.is_(None))
                                 .values(used_at=utcnow(), used_by=sub))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return None
    admin = db.session.scalar(db.select(Admin).where(Admin.sub == sub))
    if admin is None:
        admin = Admin(sub=sub, role=row.role)
        db.session.add(admin)
    else:
        admin.role, admin.revoked_at = row.role, None
    db.session.commit()
    audit.record("admin.join", actor=sub, target=sub, role=row.role, invite=row.id)
    return admin


def active_admin(sub: str) -> Admin | None:
    admin = db.session.scalar(db.select(Admin).where(Admin.sub == sub))
    return admin if admin is not None and admin.revoked_at is None else None


def list_admins() -> list[Admin]:
    return list(db.session.scalars(db.select(Admin).order_by(Admin.id)))


def revoke(sub: str) -> Admin | None:
    """Remove console access at once: the role and every open console session end in one transaction."""
    admin = active_admin(sub) if lookup_key(sub) else None
    if admin is None:
        return None
    now = utcnow()
    admin.revoked_at = now
    db.session.execute(db.update(AdminSession).where(AdminSession.admin_id == admin.id,
                                                     AdminSession.ended_at.is_(None)).values(ended_at=now))
    db.session.commit()
    audit.record("admin.revoke", actor=audit.current_actor(), target=sub)
    return admin
