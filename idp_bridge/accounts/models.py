"""Users and their WeChat identities (SPEC §1 "user", "identity")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.identifiers import random_id
from idp_bridge.timeutil import utcnow


def new_sub() -> str:
    """A random, never-reused subject: 128 bits, URL-safe, far below OIDC's 255-character limit."""
    return random_id(16)


class User(db.Model):  # type: ignore[name-defined]
    """A person known to the bridge; ``sub`` is stable and is never the openid (SPEC §6)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True, default=new_sub)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    picture: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    identities: Mapped[list[Identity]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Identity.id"
    )


class Identity(db.Model):  # type: ignore[name-defined]
    """One WeChat account (openid, maybe unionid) on one connection, belonging to one user."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("connection_id", "openid", name="uq_identities_connection_openid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    # Its own index: the unique key leads with connection_id, so the console's search by openid alone
    # (any connection) could not use it.
    openid: Mapped[str] = mapped_column(String(64), index=True)
    unionid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="identities")


class BindingCode(db.Model):  # type: ignore[name-defined]
    """A one-time code (stored hashed) that links a first WeChat login to a pre-existing user."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
