"""Consent for third-party applications (OIDC Core §3.1.2.4, SPEC §4): asked once per scope set and
remembered until revoked; ``prompt=consent`` asks again, ``prompt=none`` turns a missing consent into
``consent_required`` (that rule lives with the other checks in ``authorize.py``)."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from idp_bridge.extensions import db
from idp_bridge.oidc import seam
from idp_bridge.oidc.models import ClientRules, Consent, PendingAuthorization
from idp_bridge.oidc.principal import Principal
from idp_bridge.timeutil import utcnow


def granted(user_id: int, client_id: str, scope: str) -> bool:
    """Whether the user already granted every scope in ``scope`` to this client."""
    row = db.session.scalar(db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    return row is not None and set(scope.split()) <= set(row.scope.split())


def ask(client: ClientRules, params: dict[str, str], principal: Principal, scope: str) -> Response:
    """The consent page; the answer comes back to ``/oauth/consent`` bound to this browser by a pending row
    that already knows who signed in (so the answer cannot be replayed for another user)."""
    pending, new_cookie = seam.create_pending(client.client_id, params)
    pending.user_id = principal.user.id
    pending.auth_time = principal.auth_time
    pending.sid = principal.sid
    pending.connection_id = principal.connection_id
    db.session.commit()
    page = Response(render_template("oidc/consent.html", client=client, scopes=scope.split(),
                                    pending_id=pending.id), mimetype="text/html")
    return seam.bind_browser(page, new_cookie)


def remember(pending: PendingAuthorization) -> None:
    """Store an "allow" answer: the scopes asked are added to what the user granted this client before."""
    if pending.user_id is None:
        raise ValueError("consent needs a signed-in user")
    scope = " ".join(pending.params.get("scope", "").split())
    row = db.session.scalar(db.select(Consent).where(Consent.user_id == pending.user_id,
                                                     Consent.client_id == pending.client_id))
    if row is None:
        db.session.add(Consent(user_id=pending.user_id, client_id=pending.client_id, scope=scope))
    else:
        row.scope = " ".join(sorted(set(row.scope.split()) | set(scope.split())))
        row.granted_at = utcnow()
    pending.consented_at = utcnow()
    db.session.commit()
