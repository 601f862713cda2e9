"""Applications as every worker reads them on the hot path: an immutable snapshot per client, kept per process
and dropped everywhere when any application changes (``idp_bridge.cache``).

The token and authorization endpoints look their client up on every request — Authlib itself does so more
than once per request — but applications change only when an operator edits one. A snapshot answers every
Authlib check through the same :class:`ClientRules` as the row, so the rules cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp_bridge import cache
from idp_bridge.extensions import db
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.oidc.models import CLIENTS_KIND, Client, ClientRules


@dataclass(frozen=True)
class ClientRecord(ClientRules):
    """What the OIDC endpoints need of an application, detached from any session (safe across threads)."""

    id: int
    client_id: str
    client_secret_digest: str | None
    name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    web_origins: tuple[str, ...]
    public: bool
    third_party: bool
    try_page: bool
    resource_server: bool
    id_token_signed_response_alg: str

    @classmethod
    def of(cls, row: Client) -> ClientRecord:
        return cls(id=row.id, client_id=row.client_id, client_secret_digest=row.client_secret_digest,
                   name=row.name, redirect_uris=tuple(row.redirect_uris or ()),
                   post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
                   web_origins=tuple(row.web_origins or ()), public=bool(row.public),
                   third_party=bool(row.third_party), try_page=bool(row.try_page),
                   resource_server=bool(row.resource_server),
                   id_token_signed_response_alg=row.id_token_signed_response_alg or "RS256")


def _load(client_id: str) -> ClientRecord | None:
    row = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
    return ClientRecord.of(row) if row is not None else None


def find_client(client_id: str) -> ClientRecord | None:
    """The application named in a request; values that cannot be one of our ids never reach the database."""
    key = lookup_key(client_id)
    if key is None:
        return None
    return cache.cached(CLIENTS_KIND, key, lambda: _load(key))
