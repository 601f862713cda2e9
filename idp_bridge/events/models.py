"""Outbox tables (SPEC §14): events, webhooks, one delivery per (event, target), every attempt logged.

An event row and its deliveries are added to the session of the change that causes them, so they commit (or
roll back) with it: the transactional-outbox pattern. The sender only ever reads committed deliveries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp_bridge import cache
from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.identifiers import random_id
from idp_bridge.timeutil import utcnow


def new_event_id() -> str:
    return "evt_" + random_id(12)


def new_webhook_id() -> str:
    return "wh_" + random_id(9)


def new_message_id() -> str:
    return "msg_" + random_id(12)


#: The enabled webhooks' subscriptions are cached per process (``outbox.emit`` runs on every login and push);
#: declared beside the table so every process that writes it moves the version (``idp_bridge.cache``).
WEBHOOKS_KIND = "webhooks"
cache.watch(WEBHOOKS_KIND, "webhooks")


class Event(db.Model):  # type: ignore[name-defined]
    """Something that happened. ``ref`` is an optional correlation key (e.g. the login scene a follow came
    from) so that a later event can refer to an earlier one without parsing JSON."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_event_id)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ref: Mapped[str | None] = mapped_column(String(160), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Webhook(db.Model):  # type: ignore[name-defined]
    """A receiver: URL, subscribed event types, optional connection filter; the signing secret is sealed."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_webhook_id)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"),
                                                      nullable=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(db.Model):  # type: ignore[name-defined]
    """One event to one target: a webhook (``kind`` webhook) or a client's back-channel logout URI
    (``kind`` backchannel). ``lease_until`` is the claim of the sender working on it; a sender that dies
    leaves a lease that simply runs out, and the delivery is claimed again."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook | backchannel
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_message_id)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    event: Mapped[Event] = relationship()


class DeliveryAttempt(db.Model):  # type: ignore[name-defined]
    """The delivery log: one row per HTTP attempt (status or error, and how long it took)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ClientBackchannel(db.Model):  # type: ignore[name-defined]
    """A client's ``backchannel_logout_uri`` (OIDC Back-Channel Logout 1.0 §2.2), kept beside the client
    row so the event feature owns its schema."""

    __tablename__ = "client_backchannel"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)


class ConnectionPolicy(db.Model):  # type: ignore[name-defined]
    """Per-connection event settings (SPEC §14): what an unfollow does (keep | revoke | block), and where the
    pushes the bridge does not consume are passed on (``forward_url``, pass-through)."""

    __tablename__ = "connection_policies"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    on_unsubscribe: Mapped[str] = mapped_column(String(8), default="keep")
    forward_url: Mapped[str | None] = mapped_column(Text, nullable=True)
