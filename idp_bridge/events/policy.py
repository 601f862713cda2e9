"""Unfollow policy (SPEC §14 ``--on-unsubscribe keep|revoke|block``): what an unfollow does to the user.

- keep (default): nothing; the follow login simply needs a new follow next time.
- revoke: end the user's SSO sessions and revoke the tokens obtained through *that* connection, and send
  back-channel logouts for them (other connections' sessions are untouched).
- block: block the user, exactly as an administrator would (every session and token, everywhere).
"""

from __future__ import annotations

from idp_bridge import signals
from idp_bridge.accounts.models import User
from idp_bridge.events.models import ConnectionPolicy
from idp_bridge.extensions import db
from idp_bridge.oidc.models import SsoSession, Token
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError

POLICIES = ("keep", "revoke", "block")


def on_unsubscribe(connection_id: int) -> str:
    row = db.session.get(ConnectionPolicy, connection_id)
    return row.on_unsubscribe if row is not None else "keep"


def set_on_unsubscribe(connection_id: int, value: str) -> None:
    """Set the policy (in the caller's transaction)."""
    if value not in POLICIES:
        raise ValidationError("on_unsubscribe", f"must be one of {', '.join(POLICIES)}")
    row = db.session.get(ConnectionPolicy, connection_id)
    if row is None:
        db.session.add(ConnectionPolicy(connection_id=connection_id, on_unsubscribe=value))
    else:
        row.on_unsubscribe = value


def apply_unfollow(connection_id: int, user_id: int) -> None:
    """Apply the connection's policy to ``user_id``; adds to the caller's transaction, never commits."""
    from idp_bridge.events.sources import logout_everywhere

    chosen = on_unsubscribe(connection_id)
    if chosen == "block":
        user = db.session.get(User, user_id)
        if user is not None and not user.blocked:
            user.blocked = True
            signals.user_blocked.send(None, user_id=user_id)
    elif chosen == "revoke":
        logout_everywhere(user_id, connection_id=connection_id)
        now = utcnow()
        db.session.execute(db.update(SsoSession).where(SsoSession.user_id == user_id,
                                                       SsoSession.connection_id == connection_id,
                                                       SsoSession.revoked_at.is_(None)).values(revoked_at=now))
        db.session.execute(db.update(Token).where(Token.user_id == user_id, Token.connection_id == connection_id,
                                                  Token.revoked_at.is_(None)).values(revoked_at=now))
