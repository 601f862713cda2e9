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
from idp_bridge.events.ssrf import TargetRefused, check_url_shape
from idp_bridge.extensions import db
from idp_bridge.oidc.models import SsoSession, Token
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError

POLICIES = ("keep", "revoke", "block")


def on_unsubscribe(connection_id: int) -> str:
    row = db.session.get(ConnectionPolicy, connection_id)
    return row.on_unsubscribe if row is not None else "keep"


def _row(connection_id: int) -> ConnectionPolicy:
    row = db.session.get(ConnectionPolicy, connection_id)
    if row is None:
        row = ConnectionPolicy(connection_id=connection_id, on_unsubscribe="keep")
        db.session.add(row)
    return row


def set_on_unsubscribe(connection_id: int, value: str) -> None:
    """Set the policy (in the caller's transaction)."""
    if value not in POLICIES:
        raise ValidationError("on_unsubscribe", f"must be one of {', '.join(POLICIES)}")
    _row(connection_id).on_unsubscribe = value


def forward_url(connection_id: int) -> str | None:
    row = db.session.get(ConnectionPolicy, connection_id)
    return row.forward_url if row is not None else None


def set_forward_url(connection_id: int, url: str | None, *, validate_only: bool = False) -> None:
    """Pass-through target (SPEC §14), ``''``/None to stop forwarding; in the caller's transaction.

    Shape only (http(s), no credentials): the target is the operator's own WeChat backend, usually on a
    private network, and only an administrator sets it."""
    if url:
        try:
            check_url_shape(url)
        except TargetRefused as exc:
            raise ValidationError("forward_url", str(exc)) from None
    if not validate_only:
        _row(connection_id).forward_url = url or None


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
