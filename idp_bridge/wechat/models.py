"""Connections: one WeChat service account wired to the bridge (SPEC §1 "connection")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge import cache
from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow

#: The callback's per-process snapshots of connections (``wechat.connection_cache``): any write to the table, in
#: any process, invalidates them in every process.
CONNECTIONS_KIND = "connections"
cache.watch(CONNECTIONS_KIND, "connections")
#: Per-process copies of the shared access tokens (``wechat.token_cache``), forgotten everywhere on any refresh.
ACCESS_TOKENS_KIND = "wechat_access_tokens"
cache.watch(ACCESS_TOKENS_KIND, "wechat_access_tokens")


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
    # Reach (SPEC §13): which ways of signing in this account offers besides the parametric QR code.
    account_type: Mapped[str] = mapped_column(String(16), default="service", server_default="service")
    code_login: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    account_qr_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    web_auth: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    require_follow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProcessedEvent(db.Model):  # type: ignore[name-defined]
    """A claim on one push (SPEC §7.4 "processes a re-delivered event once"), shared by every worker.

    A push counts as processed only once its effects are committed: the claim is a lease (``lease_until``)
    taken before the handler runs and ``done_at`` is set after it returns. A worker killed in between never
    sets ``done_at``; once the lease runs out WeChat's next re-delivery takes the claim over and completes
    the login. The unique key makes the claim atomic across workers.
    """

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("connection_id", "dedupe_key", name="uq_processed_events_connection_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PushSignature(db.Model):  # type: ignore[name-defined]
    """A plaintext-mode ``signature`` seen within the timestamp window, with a digest of the body it came with.

    Plaintext mode's signature does not cover the body (WeChat "接入指南"), so the same signature with
    another body is a forgery (SPEC §15 "Push integrity"). Rows are useless after ``expires_at``, when the
    timestamp itself falls out of the window; the retention purge deletes them.
    """

    __tablename__ = "push_signatures"
    __table_args__ = (UniqueConstraint("connection_id", "signature", name="uq_push_signatures_connection_signature"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    signature: Mapped[str] = mapped_column(String(40))
    body_digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WeChatAccessToken(db.Model):  # type: ignore[name-defined]
    """The shared access token of one AppID."""

    __tablename__ = "wechat_access_tokens"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CallbackHealth(db.Model):  # type: ignore[name-defined]
    """What the callback last saw for one connection (``wechat.health``): shown on the console."""

    __tablename__ = "callback_health"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_event_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_refusal_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_refusal_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    refusals: Mapped[int] = mapped_column(Integer, default=0)


class ApiErrorCount(db.Model):  # type: ignore[name-defined]
    """How many WeChat API calls of one connection failed with one ``errcode`` in one UTC minute
    (``wechat.api_errors``): the console's "WeChat API errors by errcode in the last hour" (SPEC §12), shared
    by every worker and instance. Successful calls write nothing; old minutes are purged (``retention``)."""

    __tablename__ = "wechat_api_errors"
    __table_args__ = (UniqueConstraint("minute", "connection_id", "errcode", name="uq_wechat_api_errors_minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    errcode: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=0)
