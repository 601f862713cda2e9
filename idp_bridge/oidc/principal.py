"""Who a grant is for: the user plus the facts of the login that the tokens must carry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import joinedload

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db


@dataclass(frozen=True)
class Principal:
    """Authlib's "user" for our grants: keeps ``auth_time``, ``sid`` and the connection used together, so an
    ID token from a refresh carries the original ``auth_time`` (OIDC Core §12.2)."""

    user: User
    auth_time: int
    sid: str | None = None
    connection_id: int | None = None

    @property
    def id(self) -> int:
        return self.user.id


def identity_for(user: User, connection_id: int | None) -> Identity | None:
    """The identity used to log in (by connection), else the user's first one."""
    identities = list(user.identities)
    for identity in identities:
        if connection_id is not None and identity.connection_id == connection_id:
            return identity
    return identities[0] if identities else None


def user_claims(user: User, connection_id: int | None, scope: str) -> dict[str, str]:
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


def load_user(user_id: int, *, with_identities: bool = False) -> User | None:
    """An active user, or None when missing or blocked. ``with_identities`` loads the identities in the same
    statement, for callers that build claims (one round trip instead of two)."""
    if with_identities:
        user = db.session.scalars(db.select(User).options(joinedload(User.identities))
                                  .where(User.id == user_id)).unique().first()
    else:
        user = db.session.get(User, user_id)
    return None if user is None or user.blocked else user
