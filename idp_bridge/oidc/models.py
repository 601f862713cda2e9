"""OIDC persistence: applications (clients), codes, tokens, SSO sessions, pending authorizations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp_bridge import cache
from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.secretbox import matches
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import Connection

SUPPORTED_SCOPES = ("openid", "profile", "offline_access")

#: Cached per process (``oidc.client_cache``, ``oidc.keystore``); declared beside the tables so every process
#: that writes them — a worker, the CLI, the console — bumps the version (``idp_bridge.cache``).
CLIENTS_KIND, SIGNING_KEYS_KIND, LOCKOUTS_KIND = "clients", "signing_keys", "auth_lockouts"
cache.watch(CLIENTS_KIND, "clients", "client_connections")
cache.watch(SIGNING_KEYS_KIND, "signing_keys")
cache.watch(LOCKOUTS_KIND, "auth_lockouts")

client_connections = Table(
    "client_connections",
    db.metadata,
    Column("client_id", ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    Column("connection_id", ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True),
)


class ClientRules(ClientMixin):
    """Authlib's client interface as rules over the attributes alone, shared by the ORM row and the
    per-process snapshot (``oidc.client_cache``) so both answer every check identically."""

    client_id: str
    client_secret_digest: str | None
    name: str
    public: bool
    third_party: bool
    resource_server: bool
    id_token_signed_response_alg: str
    redirect_uris: Any
    post_logout_redirect_uris: Any
    web_origins: Any

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """None on purpose: OIDC Core §3.1.2.1 makes ``redirect_uri`` required."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Keep only scopes we support, in the order asked; unknown scopes are ignored (RFC 6749 §3.3)."""
        if not scope:
            return ""
        asked = scope.split()
        return " ".join(s for s in dict.fromkeys(asked) if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against the registered URIs (RFC 9700 §4.1.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret_digest) and matches(client_secret, self.client_secret_digest or "")

    @property
    def token_endpoint_auth_method(self) -> str:
        return "none" if self.public else "client_secret_basic"

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients authenticate with nothing; confidential ones with their secret (basic or post)."""
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    @property
    def client_metadata(self) -> dict[str, Any]:
        """The registration metadata Authlib's RP-initiated logout reads."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}


class Client(db.Model, ClientRules):  # type: ignore[name-defined]
    """An application (OIDC client). The secret is stored as a SHA-256 digest, shown once at creation."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    web_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    third_party: Mapped[bool] = mapped_column(Boolean, default=False)
    try_page: Mapped[bool] = mapped_column(Boolean, default=False)
    # SPEC §15: may introspect tokens issued to other clients (RFC 7662); false for ordinary applications.
    resource_server: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    connections: Mapped[list[Connection]] = relationship(secondary=client_connections)

    def allowed_connections(self) -> list[Connection]:
        """The connections this application may use: its own list, or every connection when empty."""
        if self.connections:
            return list(self.connections)
        return list(db.session.scalars(db.select(Connection).order_by(Connection.id)))

    def describe(self) -> dict[str, Any]:
        """Public description (never the secret) for the CLI and logs."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "type": "public" if self.public else "confidential",
            "third_party": self.third_party,
            "resource_server": bool(self.resource_server),
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "web_origins": list(self.web_origins),
            "connections": [c.identifier for c in self.connections] or ["*"],
            "try_page": self.try_page,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }


class CodeRules:
    """Authlib's authorization-code interface over the attributes alone, shared by the ORM row and the record
    the token endpoint reads with ``UPDATE … RETURNING`` (``tokens.consume_code``)."""

    redirect_uri: str
    scope: str
    nonce: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class AuthorizationCode(db.Model, CodeRules):  # type: ignore[name-defined]
    """An issued code, stored as a digest. ``issued_at``/``expires_at`` are separate from ``auth_time``
    (RFC 6749 §4.1.2: codes expire shortly) and ``used_at`` is set by one atomic update (one use only)."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"),
                                                      nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Token(db.Model, TokenMixin):  # type: ignore[name-defined]
    """Access token (+ refresh token) stored as digests. A ``family_id`` links every rotation of one grant
    so that a reused refresh token revokes them all; ``code_id`` links tokens to the code they came from."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    access_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    connection_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Authlib's TokenMixin interface (used by revocation and introspection)
    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.access_expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return self.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class SsoSession(db.Model):  # type: ignore[name-defined]
    """A browser signed in at the bridge: the cookie holds a random value, the row its digest."""

    __tablename__ = "sso_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    cookie_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Consent(db.Model):  # type: ignore[name-defined]
    """Scopes a user granted to a third-party application, remembered until revoked."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_consents_user_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingAuthorization(db.Model):  # type: ignore[name-defined]
    """A validated authorization request waiting for the user to log in (the login seam)."""

    __tablename__ = "pending_authorizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    connection_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    auth_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def client(self) -> Client | None:
        return db.session.scalar(db.select(Client).where(Client.client_id == self.client_id))

    @property
    def display(self) -> str:
        return self.params.get("display", "page")

    @property
    def ui_locales(self) -> str:
        return self.params.get("ui_locales", "")

    @property
    def prompt(self) -> str:
        return self.params.get("prompt", "")

    @property
    def response_mode(self) -> str:
        return self.params.get("response_mode", "query")

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def redirect_uri(self) -> str:
        return self.params.get("redirect_uri", "")


class SigningKey(db.Model):  # type: ignore[name-defined]
    """One signing key; ``active_alg`` is set on exactly one key per algorithm (unique), so two workers
    generating the first key at once cannot both succeed."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    active_alg: Mapped[str | None] = mapped_column(String(8), unique=True, nullable=True)
    private_jwk_sealed: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    remove_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def describe(self) -> dict[str, Any]:
        state = "active" if self.active_alg else ("published" if self._published() else "expired")
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": state,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "remove_after": self.remove_after.isoformat() if self.remove_after else None,
        }

    def _published(self) -> bool:
        return self.active_alg is not None or (self.remove_after is not None and self.remove_after > utcnow())


class AuthLockout(db.Model):  # type: ignore[name-defined]
    """A client id locked for one address until ``until`` (epoch seconds) after too many failed client
    authentications. Rows appear only when a lock starts, so the successful path reads them from the
    per-process cache and never from the database."""

    __tablename__ = "auth_lockouts"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    until: Mapped[int] = mapped_column(Integer, index=True)
