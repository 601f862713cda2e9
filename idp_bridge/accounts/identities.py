"""Unlinking a WeChat identity from a user (SPEC §12 users screen "unlink an identity").

The rule, after Keycloak's account console (which refuses to remove the last federated identity of a user
who has no other credential): a user's **last** identity is unlinked only when the administrator says so
explicitly (``allow_last``), because afterwards nobody can sign in as that user until a binding code
(``invite``) links a WeChat account again (association=binding connections, SPEC §7.5). Without it the call
is refused with a message saying exactly that.

Whatever was obtained through the unlinked identity's connection ends with it, as with the ``revoke`` unfollow
policy (SPEC §14): the SSO sessions started through that connection end, the tokens obtained through it are
revoked, and the clients holding them get a back-channel logout (OIDC Back-Channel Logout 1.0 §2.5). The
openid may belong to somebody else now; nothing they signed in with may outlive the link.
"""

from __future__ import annotations

from idp_bridge import audit
from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

LAST_IDENTITY = ("is the user's last identity: after unlinking it they can sign in again only with a binding "
                 "code; confirm to unlink it anyway")


def unlink_identity(user: User, identity_id: int, *, allow_last: bool = False) -> Identity:
    """Remove one of ``user``'s identities (validated before anything is written); commits. Returns the removed
    row (detached) so the caller can say what went."""
    from idp_bridge.events.sources import logout_everywhere
    from idp_bridge.oidc.models import SsoSession, Token

    identity = db.session.get(Identity, identity_id) if isinstance(identity_id, int) else None
    if identity is None or identity.user_id != user.id:
        raise ValidationError("identity", "is not an identity of this user")
    if len(user.identities) == 1 and not allow_last:
        raise ValidationError("identity", LAST_IDENTITY)
    connection = db.session.get(Connection, identity.connection_id)
    logout_everywhere(user.id, connection_id=identity.connection_id)
    now = utcnow()
    db.session.execute(db.update(SsoSession).where(SsoSession.user_id == user.id,
                                                   SsoSession.connection_id == identity.connection_id,
                                                   SsoSession.revoked_at.is_(None)).values(revoked_at=now))
    db.session.execute(db.update(Token).where(Token.user_id == user.id, Token.connection_id == identity.connection_id,
                                              Token.revoked_at.is_(None)).values(revoked_at=now))
    user.identities.remove(identity)  # delete-orphan: the row goes with the commit
    db.session.commit()
    audit.record("user.unlink", actor=audit.current_actor(), target=user.sub,
                 connection=connection.identifier if connection is not None else None,
                 last=True if not user.identities else None)
    return identity
