"""Client registration of OIDC Back-Channel Logout 1.0 (§2.2 ``backchannel_logout_uri``): the same URI rules
as every other registered URI (absolute, https except loopback, no credentials, no fragment). The logout
tokens themselves are queued by ``events.sources`` and signed by ``events.signing``."""

from __future__ import annotations

from idp_bridge.events.models import ClientBackchannel
from idp_bridge.extensions import db
from idp_bridge.oidc.registration import _check_uri  # the registration rules, shared on purpose


def check_uri(uri: str) -> str:
    """Validate before anything is written (the CLI calls it before creating the client)."""
    return _check_uri("backchannel_logout_uri", uri)


def uri_of(client_id: str) -> str | None:
    row = db.session.get(ClientBackchannel, client_id)
    return row.uri if row is not None else None


def set_uri(client_id: str, uri: str | None) -> None:
    """Register (or with ``None``/``""`` remove) the client's back-channel logout URI; commits."""
    row = db.session.get(ClientBackchannel, client_id)
    if not uri:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(ClientBackchannel(client_id=client_id, uri=check_uri(uri)))
    else:
        row.uri = check_uri(uri)
    db.session.commit()
