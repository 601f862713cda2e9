"""Registering applications (OIDC clients): validation of URIs and origins, secrets shown once.

Rules follow RFC 9700 §4.1 and OIDC Registration: redirect URIs are absolute, carry no fragment and are
matched exactly; plain ``http`` is allowed only for loopback hosts (development); web origins are bare
``scheme://host[:port]`` values used for CORS and ``web_message``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from idp_bridge import audit
from idp_bridge.extensions import db
from idp_bridge.identifiers import random_id
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.oidc.models import Client
from idp_bridge.secretbox import digest
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
ALGS = ("RS256", "ES256")


def _check_uri(field: str, uri: str) -> str:
    if not isinstance(uri, str) or len(uri) > 2000 or any(ch.isspace() for ch in uri):
        raise ValidationError(field, f"'{uri}' must be an absolute URI without spaces, at most 2000 characters")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise ValidationError(field, f"'{uri}' is not a valid URI") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError(field, f"'{uri}' must be an absolute http(s) URI")
    if parts.fragment or "#" in uri:
        raise ValidationError(field, f"'{uri}' must not contain a fragment")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValidationError(field, f"'{uri}': http is allowed only for loopback hosts; use https")
    if parts.username or parts.password:
        raise ValidationError(field, f"'{uri}' must not contain credentials")
    return uri


def _check_origin(origin: str) -> str:
    _check_uri("web_origin", origin)
    parts = urlsplit(origin)
    if parts.path not in ("", "/") or parts.query:
        raise ValidationError("web_origin", f"'{origin}' must be an origin: scheme://host[:port] only")
    return f"{parts.scheme}://{parts.netloc}"


def _connections(identifiers: Iterable[str]) -> list[Connection]:
    found = []
    for identifier in identifiers:
        row = db.session.scalar(db.select(Connection).where(Connection.identifier == identifier))
        if row is None:
            raise ValidationError("connection", f"no connection '{identifier}'")
        found.append(row)
    return found


def _check_resource_server(public: bool, resource_server: bool) -> None:
    """A resource server introspects tokens (RFC 7662 §2.1), which needs client authentication: a public
    client has no secret to authenticate with."""
    if public and resource_server:
        raise ValidationError("resource_server", "a resource server must be a confidential client")


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValidationError("name", "must be 1-100 characters")
    return name.strip()


def new_secret() -> str:
    """256 bits from the OS, URL-safe."""
    return secrets.token_urlsafe(32)


def create_client(
    name: str,
    redirect_uris: Iterable[str],
    *,
    post_logout_redirect_uris: Iterable[str] = (),
    web_origins: Iterable[str] = (),
    public: bool = False,
    third_party: bool = False,
    connections: Iterable[str] = (),
    try_page: bool = False,
    id_token_alg: str = "RS256",
    resource_server: bool = False,
) -> tuple[Client, str | None]:
    """Validate, then store; returns the client and its plaintext secret (None for public clients)."""
    uris = [_check_uri("redirect_uri", u) for u in redirect_uris]
    if not uris:
        raise ValidationError("redirect_uri", "at least one is required")
    logout_uris = [_check_uri("post_logout_redirect_uri", u) for u in post_logout_redirect_uris]
    origins = list(dict.fromkeys(_check_origin(o) for o in web_origins))
    if id_token_alg not in ALGS:
        raise ValidationError("id_token_alg", f"must be one of {', '.join(ALGS)}")
    _check_resource_server(public, resource_server)
    client = Client(
        client_id=random_id(16),
        name=_name(name),
        redirect_uris=list(dict.fromkeys(uris)),
        post_logout_redirect_uris=list(dict.fromkeys(logout_uris)),
        web_origins=origins,
        public=public,
        third_party=third_party,
        try_page=try_page,
        resource_server=resource_server,
        id_token_signed_response_alg=id_token_alg,
        connections=_connections(connections),
    )
    secret = None if public else new_secret()
    client.client_secret_digest = digest(secret) if secret else None
    db.session.add(client)
    db.session.commit()
    audit.record("client.create", actor=audit.current_actor(), target=client.client_id, name=client.name)
    return client, secret


def get_client(client_id: str) -> Client | None:
    key = lookup_key(client_id)
    if key is None:
        return None
    return db.session.scalar(db.select(Client).where(Client.client_id == key))


def list_clients() -> list[Client]:
    return list(db.session.scalars(db.select(Client).order_by(Client.id)))


def update_client(client: Client, **changes: Any) -> Client:
    """Replace the given lists/flags; validation happens before anything is written."""
    updates: dict[str, Any] = {}
    if changes.get("name") is not None:
        updates["name"] = _name(changes["name"])
    if changes.get("redirect_uris"):
        updates["redirect_uris"] = [_check_uri("redirect_uri", u) for u in changes["redirect_uris"]]
    if changes.get("post_logout_redirect_uris") is not None:
        updates["post_logout_redirect_uris"] = [
            _check_uri("post_logout_redirect_uri", u) for u in changes["post_logout_redirect_uris"]
        ]
    if changes.get("web_origins") is not None:
        updates["web_origins"] = list(dict.fromkeys(_check_origin(o) for o in changes["web_origins"]))
    if changes.get("connections") is not None:
        updates["connections"] = _connections(changes["connections"])
    if changes.get("id_token_alg") is not None:
        if changes["id_token_alg"] not in ALGS:
            raise ValidationError("id_token_alg", f"must be one of {', '.join(ALGS)}")
        updates["id_token_signed_response_alg"] = changes["id_token_alg"]
    for flag in ("third_party", "try_page", "resource_server"):
        if changes.get(flag) is not None:
            updates[flag] = bool(changes[flag])
    _check_resource_server(client.public, updates.get("resource_server", client.resource_server))
    for key, value in updates.items():
        setattr(client, key, value)
    db.session.commit()
    audit.record("client.update", actor=audit.current_actor(), target=client.client_id, fields=sorted(updates))
    return client


def rotate_secret(client: Client) -> str:
    if client.public:
        raise ValidationError("client", "public clients have no secret")
    secret = new_secret()
    client.client_secret_digest = digest(secret)
    db.session.commit()
    audit.record("client.rotate_secret", actor=audit.current_actor(), target=client.client_id)
    return secret


def delete_client(client: Client) -> None:
    client_id = client.client_id
    db.session.delete(client)
    db.session.commit()
    audit.record("client.delete", actor=audit.current_actor(), target=client_id)
