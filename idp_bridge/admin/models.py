"""Console administrators, their one-time invites and their console sessions (SPEC §12).

Invites and session tokens are stored as SHA-256 digests only: the database never holds a value that
would let its reader sign in to the console.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow

ROLES = ("admin", "viewer")


class Admin(db.Model):  # type: ignore[name-defined]
    """A user (by ``sub``) allowed into the console with a role; revoking keeps the row for the audit trail."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    sessions: Mapped[list[AdminSession]] = relationship(back_populates="admin", cascade="all, delete-orphan")

    def describe(self) -> dict[str, object]:
        return {"sub": self.sub, "role": self.role, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


class AdminInvite(db.Model):  # type: ignore[name-defined]
    """A one-time URL (24 h) whose first successful sign-in becomes an admin with ``role``."""

    __tablename__ = "admin_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AdminSession(db.Model):  # type: ignore[name-defined]
    """One console sign-in: 30 min idle, 8 h absolute; ``auth_time`` decides the fresh-sign-in rule."""

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    admin: Mapped[Admin] = relationship(back_populates="sessions")
