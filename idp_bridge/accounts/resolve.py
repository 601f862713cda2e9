"""Who a WeChat identity is (SPEC §7.5): existing identity → unionid association → binding → new user,
with login-only connections and blocked users refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from idp_bridge import signals
from idp_bridge.accounts.models import BindingCode, Identity, User
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.connection_cache import CachedConnection
from idp_bridge.wechat.models import Connection

MAX_BINDING_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """The decision for one scan: a user, a refusal with a reason code, or "ask for a binding code"."""

    kind: Literal["success", "refused", "binding"]
    user_id: int | None = None
    reason: str | None = None


def _touch(identity: Identity, unionid: str | None) -> None:
    identity.last_login_at = utcnow()
    if unionid and not identity.unionid:
        identity.unionid = unionid


def _decide(user: User) -> Outcome:
    return Outcome("refused", user.id, "blocked") if user.blocked else Outcome("success", user.id)


def resolve(connection: Connection | CachedConnection, openid: str, unionid: str | None, *,
            commit: bool = True) -> Outcome:
    """Find or create the user for ``openid`` on ``connection``. Commits what it changes, unless ``commit`` is
    false: the caller's next commit (the login session's move) then carries the new user with it."""
    identity = db.session.scalar(db.select(Identity).where(Identity.connection_id == connection.id,
                                                           Identity.openid == openid))
    if identity is not None:
        _touch(identity, unionid)
        outcome = _decide(identity.user)
    elif connection.association == "unionid" and unionid and (sibling := db.session.scalar(
            db.select(Identity).where(Identity.unionid == unionid).order_by(Identity.id))) is not None:
        db.session.add(Identity(user_id=sibling.user_id, connection_id=connection.id, openid=openid,
                                unionid=unionid, last_login_at=utcnow()))
        signals.identity_linked.send(None, user_id=sibling.user_id, connection_id=connection.id, via="unionid")
        outcome = _decide(sibling.user)
    elif connection.association == "binding":
        return Outcome("binding")
    elif connection.login_only:
        return Outcome("refused", None, "not_registered")
    else:
        user = User()
        db.session.add(user)
        db.session.flush()
        db.session.add(Identity(user_id=user.id, connection_id=connection.id, openid=openid, unionid=unionid,
                                last_login_at=utcnow()))
        signals.user_created.send(None, user_id=user.id, connection_id=connection.id)
        outcome = Outcome("success", user.id)  # read before a commit would expire it
    if commit:
        db.session.commit()
    return outcome


def bind(connection: Connection, openid: str, unionid: str | None, code: str) -> Outcome | None:
    """Link ``openid`` to the user a one-time binding code was issued for; None when the code is wrong."""
    from idp_bridge.accounts.admin import normalise_binding_code

    wanted = digest(normalise_binding_code(code))
    row = db.session.scalar(db.select(BindingCode).where(BindingCode.code_digest == wanted))
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    updated = db.session.execute(db.update(BindingCode).where(BindingCode.id == row.id, BindingCode.used_at.is_(None))
                                 .values(used_at=now))
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return None
    existing = db.session.scalar(db.select(Identity).where(Identity.connection_id == connection.id,
                                                           Identity.openid == openid))
    if existing is None:
        db.session.add(Identity(user_id=row.user_id, connection_id=connection.id, openid=openid, unionid=unionid,
                                last_login_at=now))
        signals.identity_linked.send(None, user_id=row.user_id, connection_id=connection.id, via="binding")
    db.session.commit()
    user = db.session.get(User, row.user_id)
    return _decide(user) if user is not None else None
