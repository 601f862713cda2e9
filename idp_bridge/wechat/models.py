"""Connections: one WeChat service account wired to the bridge (SPEC §1 "connection")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow


class Connection(db.Model):  # type: ignore[name-defined]
    """A WeChat service account. Secrets are stored sealed (``secretbox``), never in clear."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(31), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    app_id: Mapped[str] = mapped_column(String(32))
    app_secret_sealed: Mapped[str] = mapped_column(Text)
    token_sealed: Mapped[str] = mapped_column(Text)
    encoding_aes_key_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_aes_key_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    encryption: Mapped[str] = mapped_column(String(16))  # plaintext | compatible | safe
    login_only: Mapped[bool] = mapped_column(Boolean, default=False)
    association: Mapped[str] = mapped_column(String(16), default="none")  # none | unionid | binding
    reply_text: Mapped[str] = mapped_column(Text, default="")
    confirm_in_wechat: Mapped[bool] = mapped_column(Boolean, default=False)
    scene_prefix: Mapped[str] = mapped_column(String(16), default="login_")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProcessedEvent(db.Model):  # type: ignore[name-defined]
    """A login push already handled; the unique key makes WeChat's re-deliveries count once across workers."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("connection_id", "dedupe_key", name="uq_processed_events_connection_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
