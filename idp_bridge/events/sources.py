"""Event producers (SPEC §14): signal receivers that add outbox rows to the transaction of the change they
report, plus the back-channel logouts a change implies (OIDC Back-Channel Logout 1.0 §2.7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp_bridge import cache, signals
from idp_bridge.accounts.models import Identity, User
from idp_bridge.events import policy
from idp_bridge.events.outbox import emit, emit_backchannel
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import State
from idp_bridge.oidc.models import PendingAuthorization, Token
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import CONNECTIONS_KIND, Connection


def _identifier(connection_id: int | None) -> str | None:
    """A connection's identifier, from the process cache of connections (every event names its connection)."""
    if connection_id is None:
        return None
    return cache.cached(CONNECTIONS_KIND, ("identifier", connection_id), lambda: db.session.scalar(
        select(Connection.identifier).where(Connection.id == connection_id)))


def _sub(user_id: int) -> str | None:
    user = db.session.get(User, user_id)
    return user.sub if user is not None else None


def logout_everywhere(user_id: int, sids: list[str] | None = None, connection_id: int | None = None) -> int:
    """Queue a logout token for every (client, session) of ``user_id`` with unrevoked tokens that may still be live —
    all of them, or only sessions ``sids``, or only tokens obtained through ``connection_id``. Returns how many."""
    sub = _sub(user_id)
    if sub is None:
        return 0
    now = utcnow()
    query = (db.select(Token.client_id, Token.sid).distinct()
             .where(Token.user_id == user_id, Token.revoked_at.is_(None),
                    (Token.access_expires_at > now) | (Token.refresh_expires_at > now)))
    if sids is not None:
        query = query.where(Token.sid.in_(sids))
    if connection_id is not None:
        query = query.where(Token.connection_id == connection_id)
    queued = 0
    for client_id, sid in db.session.execute(query.order_by(Token.client_id, Token.sid)):
        queued += emit_backchannel(client_id, sub, sid) is not None
    return queued


def _user_created(_sender: object, *, user_id: int, connection_id: int | None = None, **_: Any) -> None:
    emit("user.created", {"user": _sub(user_id), "connection": _identifier(connection_id)},
         connection_id=connection_id)


def _identity_linked(_sender: object, *, user_id: int, connection_id: int, via: str, **_: Any) -> None:
    emit("identity.linked", {"user": _sub(user_id), "connection": _identifier(connection_id), "via": via},
         connection_id=connection_id)


def _blocked(_sender: object, *, user_id: int, **_: Any) -> None:
    """``user.blocked``; the back-channel logouts follow from the revocation (``sessions_revoking``)."""
    emit("user.blocked", {"user": _sub(user_id)})


def _revoking(_sender: object, *, user_id: int, **_: Any) -> None:
    logout_everywhere(user_id)


def _deleting(_sender: object, *, user_id: int, **_: Any) -> None:
    connections = sorted({i.connection_id for i in db.session.scalars(db.select(Identity)
                                                                      .where(Identity.user_id == user_id))})
    logout_everywhere(user_id)
    emit("user.deleted", {"user": _sub(user_id), "connections": [_identifier(c) for c in connections]})


def _sso_ended(_sender: object, *, user_id: int, sids: list[str], **_: Any) -> None:
    logout_everywhere(user_id, sids=list(sids))


def _login_completed(_sender: object, *, user_id: int, client_id: str, connection_id: int | None,
                     sub: str | None = None, new_follower: bool = False, **_: Any) -> None:
    """``user.login`` (SPEC §14), with ``new_follower`` when the scan that decided it was a follow — as the login
    session recorded it when that scan fixed its scanner, not inferred from the account's follow events (someone
    else may follow through the same QR code; and the follow's own event commits after the decision)."""
    emit("user.login", {"user": sub or _sub(user_id), "connection": _identifier(connection_id), "client": client_id,
                        "new_follower": new_follower}, connection_id=connection_id)


def _login_session_moved(_sender: object, *, session_id: str, target: str, facts: dict[str, Any], **_: Any) -> None:
    """``login.refused``, for every refusal (a scan's decision, too many binding or chat codes), in the same
    transaction as the move itself (the state machine sends this before it commits)."""
    if target != State.REFUSED.value:
        return
    session = db.session.get(LoginSession, session_id)
    pending = db.session.get(PendingAuthorization, session.pending_id) if session is not None else None
    connection_id = session.connection_id if session is not None else None
    user_id = facts.get("user_id")
    emit("login.refused", {"reason": facts.get("refusal"),
                           "user": _sub(user_id) if user_id is not None else None,
                           "connection": _identifier(connection_id),
                           "client": pending.client_id if pending is not None else None},
         connection_id=connection_id)


_SCENE_REF = "scene:"


def scene_ref(connection_id: int, scene: str) -> str:
    return f"{_SCENE_REF}{connection_id}:{scene}"


def _follow_changed(_sender: object, *, connection_id: int, openid: str, kind: str, scene: str | None,
                    **_: Any) -> None:
    """``wechat.subscribe`` / ``wechat.unsubscribe`` for every follow the callback sees, and the connection's
    unfollow policy (SPEC §14), in the transaction that completes the push's claim."""
    identity = db.session.scalar(db.select(Identity).where(Identity.connection_id == connection_id,
                                                           Identity.openid == openid))
    user_id = identity.user_id if identity is not None else None
    emit(f"wechat.{kind}", {"connection": _identifier(connection_id), "openid": openid,
                            "user": _sub(user_id) if user_id is not None else None, "login": scene is not None},
         connection_id=connection_id, ref=scene_ref(connection_id, scene) if scene else None)
    if kind == "unsubscribe" and user_id is not None:
        policy.apply_unfollow(connection_id, user_id)


def connect() -> None:
    """Wire the receivers (weakly referenced by blinker, hence module-level functions)."""
    signals.user_created.connect(_user_created)
    signals.identity_linked.connect(_identity_linked)
    signals.user_blocked.connect(_blocked)
    signals.user_deleting.connect(_deleting)
    signals.sso_ended.connect(_sso_ended)
    signals.sessions_revoking.connect(_revoking)
    signals.login_completed.connect(_login_completed)
    signals.login_session_moved.connect(_login_session_moved)
    signals.follow_changed.connect(_follow_changed)
