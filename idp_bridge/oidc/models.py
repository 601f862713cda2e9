"""OIDC persistence: applications (clients), codes, tokens, SSO sessions, pending authorizations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import Connection

client_connections = Table(
    "client_connections",
    db.metadata,
    Column("client_id", ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    Column("connection_id", ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True),
)


class Client(db.Model):  # type: ignore[name-defined]
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
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "web_origins": list(self.web_origins),
            "connections": [c.identifier for c in self.connections] or ["*"],
            "try_page": self.try_page,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }
