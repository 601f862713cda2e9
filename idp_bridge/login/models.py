"""Login sessions: one QR code shown to one browser, from creation to success, refusal or expiry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.login.states import State
from idp_bridge.timeutil import utcnow


class LoginSession(db.Model):  # type: ignore[name-defined]
    """The browser only ever knows ``id`` (via its pending authorization); the openid stays here.

    Change rows only through ``login.sessions.transition`` / ``count_attempt`` (atomic compare-and-set)."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pending_id: Mapped[str] = mapped_column(String(64), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    scene: Mapped[str] = mapped_column(String(64), unique=True)
    ticket: Mapped[str] = mapped_column(Text)
    qr_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=State.WAITING.value)
    refusal: Mapped[str | None] = mapped_column(String(32), nullable=True)
    openid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unionid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Whether the scan that fixed the scanner was a follow (WeChat's ``subscribe`` event with a scene): the
    # ``new_follower`` of the login it completes (SPEC §14), decided by this session's own scanner alone.
    followed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    binding_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirm_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirm_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # Send-a-code (SPEC §13): only a digest of the one live code; web authorization: the single-use state.
    login_code_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    login_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    oauth_state_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    oauth_state_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
