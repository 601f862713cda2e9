"""User administration for the CLI: list, show, block, delete, pre-provision, and binding invitations."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from idp_bridge import audit, signals
from idp_bridge.accounts.models import BindingCode, Identity, User
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

BINDING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from a phone
BINDING_LENGTH = 8
BINDING_LIFETIME = timedelta(hours=24)
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")


def get_user(sub: str) -> User | None:
    if not isinstance(sub, str) or not 0 < len(sub) <= 64:
        return None
    return db.session.scalar(db.select(User).where(User.sub == sub))


def list_users(limit: int = 1000) -> list[User]:
    return list(db.session.scalars(db.select(User).order_by(User.id).limit(limit)))


def describe(user: User) -> dict[str, Any]:
    return {
        "sub": user.sub,
        "name": user.name,
        "blocked": user.blocked,
        "created_at": user.created_at.isoformat(),
        "identities": [
            {"connection": identity_connection(i), "openid": i.openid, "unionid": i.unionid,
             "last_login_at": i.last_login_at.isoformat() if i.last_login_at else None}
            for i in user.identities
        ],
    }


def identity_connection(identity: Identity) -> str:
    row = db.session.get(Connection, identity.connection_id)
    return row.identifier if row else "?"


def create_user(name: str | None = None, openid: str | None = None, connection: str | None = None,
                unionid: str | None = None) -> User:
    """Pre-provision a user (for login-only connections); validation happens before anything is written."""
    if name is not None and (not name.strip() or len(name) > 100):
        raise ValidationError("name", "must be 1-100 characters")
    if (openid is None) != (connection is None):
        raise ValidationError("openid", "--openid and --connection go together")
    row = None
    if openid is not None:
        if not _OPENID.fullmatch(openid):
            raise ValidationError("openid", "must be 6-64 characters of letters, digits, '_' and '-'")
        row = db.session.scalar(db.select(Connection).where(Connection.identifier == connection))
        if row is None:
            raise ValidationError("connection", f"no connection '{connection}'")
        if db.session.scalar(db.select(Identity).where(Identity.connection_id == row.id, Identity.openid == openid)):
            raise ValidationError("openid", "already belongs to a user on this connection")
    if unionid is not None and not _OPENID.fullmatch(unionid):
        raise ValidationError("unionid", "must be 6-64 characters of letters, digits, '_' and '-'")
    user = User(name=name)
    db.session.add(user)
    db.session.flush()
    if row is not None and openid is not None:
        db.session.add(Identity(user_id=user.id, connection_id=row.id, openid=openid, unionid=unionid))
    signals.user_created.send(None, user_id=user.id, connection_id=row.id if row is not None else None)
    db.session.commit()
    return user


def set_blocked(user: User, blocked: bool) -> None:
    audit.record("user.block" if blocked else "user.unblock", actor=audit.current_actor(), target=user.sub)
    user.blocked = blocked
    if blocked:  # a blocked user keeps no live session anywhere: the provider ends them in this transaction
        signals.user_blocked.send(None, user_id=user.id)
    db.session.commit()


def delete_user(user: User) -> None:
    sub = user.sub
    signals.user_deleting.send(None, user_id=user.id)  # observers write in this transaction (SPEC §14)
    db.session.delete(user)
    db.session.commit()
    audit.record("user.delete", actor=audit.current_actor(), target=sub)


def invite(user: User) -> tuple[str, BindingCode]:
    """A one-time binding code (shown once, stored as a digest) for association=binding connections."""
    code = "".join(secrets.choice(BINDING_ALPHABET) for _ in range(BINDING_LENGTH))
    row = BindingCode(user_id=user.id, code_digest=digest(normalise_binding_code(code)),
                      expires_at=utcnow() + BINDING_LIFETIME)
    db.session.add(row)
    db.session.commit()
    return code, row


def normalise_binding_code(code: str) -> str:
    """Codes are typed by people: ignore case, spaces and dashes."""
    return re.sub(r"[\s-]", "", code).upper()
