"""A user's consents to third-party applications (OIDC Core §3.1.2.4; stored by ``oidc.consent``), for the
console's user page: list them and revoke one.

Revoking forgets the scopes granted *and* revokes the tokens that application holds for the user (as Keycloak's
"revoke grant" does): a consent withdrawn must not leave a refresh token working (RFC 9700 §4.14, RFC 7009 §2.1
"revoke … the grant"). The next sign-in to that application asks for consent again.
"""

from __future__ import annotations

from idp_bridge import audit
from idp_bridge.accounts.models import User
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError


def of(user: User) -> list[dict[str, object]]:
    """The user's consents, newest first, with the application's name when it still exists."""
    from idp_bridge.oidc.models import Client, Consent

    rows = db.session.execute(db.select(Consent, Client.name).outerjoin(Client, Client.client_id == Consent.client_id)
                              .where(Consent.user_id == user.id).order_by(Consent.granted_at.desc()))
    return [{"client_id": c.client_id, "name": name, "scopes": c.scope.split(), "granted_at": c.granted_at}
            for c, name in rows]


def revoke(user: User, client_id: str) -> None:
    """Forget ``user``'s consent to ``client_id`` and revoke that client's tokens for them; commits."""
    from idp_bridge.oidc.models import Consent, Token

    row = db.session.scalar(db.select(Consent).where(Consent.user_id == user.id, Consent.client_id == client_id)) \
        if isinstance(client_id, str) and 0 < len(client_id) <= 64 else None
    if row is None:
        raise ValidationError("client_id", "the user has no consent for this application")
    db.session.delete(row)
    db.session.execute(db.update(Token).where(Token.user_id == user.id, Token.client_id == client_id,
                                              Token.revoked_at.is_(None)).values(revoked_at=utcnow()))
    db.session.commit()
    audit.record("user.consent_revoke", actor=audit.current_actor(), target=user.sub, client=client_id)
