"""Who a grant is for: the user plus the facts of the login that the tokens must carry.

Users are read here as immutable records in one plain statement (the user joined with its identities): the
provider only reads them, and on the SSO path the ORM's identity map and unit of work cost more CPU than the
query itself (SPEC §16).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.plainsql import Plain

_USERS, _IDENTITIES = User.__table__, Identity.__table__


@dataclass(frozen=True)
class IdentityRecord:
    """One WeChat account of the user, as claims need it."""

    connection_id: int
    openid: str
    unionid: str | None


@dataclass(frozen=True)
class UserRecord:
    """A user as the provider reads it; identities in creation order."""

    id: int
    sub: str
    name: str | None
    picture: str | None
    blocked: bool
    identities: tuple[IdentityRecord, ...]


USER_ID = _USERS.c.id
USER_BLOCKED = _USERS.c.blocked
USER_COLUMNS = (_USERS.c.id, _USERS.c.sub, _USERS.c.name, _USERS.c.picture, _USERS.c.blocked,
                _IDENTITIES.c.connection_id, _IDENTITIES.c.openid, _IDENTITIES.c.unionid)


def user_select(*leading: Any, joined_to: Any = None, on: Any = None, outer: bool = False) -> Select[Any]:
    """``SELECT leading…, user…, identity…`` from users left-joined with identities, one row per identity
    (users joined to ``joined_to`` ``on`` a condition first, when the leading columns come from there; with
    ``outer``, a row of ``joined_to`` without its user still comes back, its user columns NULL)."""
    if joined_to is None:
        users = _USERS
    else:
        users = joined_to.outerjoin(_USERS, on) if outer else joined_to.join(_USERS, on)
    return (select(*leading, *USER_COLUMNS)
            .select_from(users.outerjoin(_IDENTITIES, _IDENTITIES.c.user_id == _USERS.c.id))
            .order_by(_IDENTITIES.c.id))


def user_from_rows(rows: Sequence[Sequence[Any]], skip: int = 0) -> UserRecord | None:
    """The record in ``rows`` of :func:`user_select` (the first ``skip`` columns are the caller's)."""
    if not rows or rows[0][skip] is None:
        return None
    first = rows[0][skip:]
    identities = tuple(IdentityRecord(int(r[skip + 5]), str(r[skip + 6]), r[skip + 7])
                       for r in rows if r[skip + 5] is not None)
    return UserRecord(int(first[0]), str(first[1]), first[2], first[3], bool(first[4]), identities)


@dataclass(frozen=True)
class Principal:
    """Authlib's "user" for our grants: keeps ``auth_time``, ``sid`` and the connection used together, so an
    ID token from a refresh carries the original ``auth_time`` (OIDC Core §12.2)."""

    user: UserRecord
    auth_time: int
    sid: str | None = None
    connection_id: int | None = None

    @property
    def id(self) -> int:
        return self.user.id


def identity_for(user: UserRecord, connection_id: int | None) -> IdentityRecord | None:
    """The identity used to log in (by connection), else the user's first one."""
    for identity in user.identities:
        if connection_id is not None and identity.connection_id == connection_id:
            return identity
    return user.identities[0] if user.identities else None


def user_claims(user: UserRecord, connection_id: int | None, scope: str) -> dict[str, str]:
    """Claims about the user for the ID token and userinfo (SPEC §6); ``sub`` is never the openid."""
    claims: dict[str, str] = {"sub": user.sub}
    identity = identity_for(user, connection_id)
    if identity is not None:
        claims["openid"] = identity.openid
        unionid = identity.unionid or next((i.unionid for i in user.identities if i.unionid), None)
        if unionid:
            claims["unionid"] = unionid
    scopes = scope.split()
    if "profile" in scopes:
        if user.name:
            claims["name"] = user.name
        if user.picture:
            claims["picture"] = user.picture
    return claims


def active(user: UserRecord | None) -> UserRecord | None:
    return None if user is None or user.blocked else user


_LOAD_USER = Plain(user_select().where(_USERS.c.id == bindparam("user_id")))


def load_user(user_id: int) -> UserRecord | None:
    """An active user with its identities (one statement), or None when missing or blocked."""
    return active(user_from_rows(_LOAD_USER.rows(db.session.connection(), {"user_id": user_id})))
