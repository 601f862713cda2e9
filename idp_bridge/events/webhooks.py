"""Webhook administration (SPEC §14), shared by `idp-bridge webhook` and the console's Webhooks screen: create
(secret shown once), list, show, update, delete, the delivery log, and redelivery. Every rule (SSRF guard,
event types, connection) lives here, so a refused field reads the same in both. Validation happens before
anything is written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from idp_bridge import audit
from idp_bridge.config import current_settings
from idp_bridge.events import signing, ssrf
from idp_bridge.events.models import Delivery, DeliveryAttempt, Webhook
from idp_bridge.events.outbox import TYPES
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

MAX_LOG = 100


def get_webhook(public_id: str) -> Webhook | None:
    if not isinstance(public_id, str) or not 0 < len(public_id) <= 32:
        return None
    return db.session.scalar(db.select(Webhook).where(Webhook.public_id == public_id))


def list_webhooks() -> list[Webhook]:
    return list(db.session.scalars(db.select(Webhook).order_by(Webhook.id)))


def describe(hook: Webhook) -> dict[str, Any]:
    connection = db.session.get(Connection, hook.connection_id) if hook.connection_id is not None else None
    return {"id": hook.public_id, "url": hook.url, "events": list(hook.event_types),
            "connection": connection.identifier if connection else None, "enabled": hook.enabled,
            "created_at": hook.created_at.isoformat()}


def _url(url: str) -> str:
    try:
        ssrf.check_target(url, current_settings().webhook_allow_private)
    except ssrf.TargetRefused as exc:
        raise ValidationError("url", str(exc)) from None
    return url


def _types(types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(types))
    if not chosen:
        raise ValidationError("event", "choose at least one event type")
    unknown = [t for t in chosen if t not in TYPES]
    if unknown:
        raise ValidationError("event", f"unknown event type {unknown[0]!r}; one of: {', '.join(TYPES)}")
    return chosen


def _connection_id(identifier: str | None) -> int | None:
    if identifier is None:
        return None
    row = db.session.scalar(db.select(Connection).where(Connection.identifier == identifier))
    if row is None:
        raise ValidationError("connection", f"no connection '{identifier}'")
    return row.id


def create_webhook(url: str, types: Iterable[str], connection: str | None = None) -> tuple[Webhook, str]:
    """Returns the webhook and its ``whsec_`` secret (stored sealed: the bridge must sign with it)."""
    hook = Webhook(url=_url(url), event_types=_types(types), connection_id=_connection_id(connection))
    secret = signing.new_secret()
    hook.secret_sealed = signing.seal_secret(secret)
    db.session.add(hook)
    db.session.flush()
    audit.record("webhook.create", actor=_actor(), target=hook.public_id)
    db.session.commit()
    return hook, secret


def update_webhook(hook: Webhook, url: str | None = None, types: Iterable[str] | None = None,
                   connection: str | None = None, enabled: bool | None = None, rotate_secret: bool = False,
                   ) -> str | None:
    """Apply the given changes; returns a new secret when ``rotate_secret``."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _url(url)
    if types is not None:
        changes["event_types"] = _types(types)
    if connection is not None:
        changes["connection_id"] = None if connection == "" else _connection_id(connection)
    if enabled is not None:
        changes["enabled"] = enabled
    secret = signing.new_secret() if rotate_secret else None
    for key, value in changes.items():
        setattr(hook, key, value)
    if secret is not None:
        hook.secret_sealed = signing.seal_secret(secret)
    audit.record("webhook.update", actor=_actor(), target=hook.public_id)
    db.session.commit()
    return secret


def delete_webhook(hook: Webhook) -> None:
    audit.record("webhook.delete", actor=_actor(), target=hook.public_id)
    db.session.delete(hook)
    db.session.commit()


def deliveries(hook: Webhook, limit: int = MAX_LOG, before: int = 0) -> list[dict[str, Any]]:
    """The delivery log, newest first, each with its attempts; ``before`` (a delivery id) is the keyset
    cursor of the next page, so every page is one index range whatever the log's length."""
    statement = db.select(Delivery).where(Delivery.webhook_id == hook.id)
    if before:
        statement = statement.where(Delivery.id < before)
    rows = db.session.scalars(statement.order_by(Delivery.id.desc()).limit(limit))
    return [describe_delivery(d) for d in rows]


def delivery_of(hook: Webhook, delivery_id: int) -> Delivery | None:
    """One of ``hook``'s deliveries (None for another target's, so a URL cannot reach across webhooks)."""
    delivery = db.session.get(Delivery, delivery_id)
    return delivery if delivery is not None and delivery.webhook_id == hook.id else None


def describe_delivery(delivery: Delivery) -> dict[str, Any]:
    attempts = db.session.scalars(db.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
                                  .order_by(DeliveryAttempt.id))
    return {"id": delivery.id, "message_id": delivery.message_id, "event": delivery.event.type,
            "event_id": delivery.event.public_id, "state": delivery.state, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.state == "pending" else None,
            "log": [{"at": a.at.isoformat(), "status": a.status, "duration_ms": a.duration_ms, "error": a.error}
                    for a in attempts]}


def redeliver(delivery_id: int) -> Delivery:
    """Send a delivery again now (whatever its state); the same ``webhook-id``, so receivers can de-duplicate."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise ValidationError("delivery", f"no delivery {delivery_id}")
    delivery.state = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.lease_until = None
    audit.record("webhook.redeliver", actor=_actor(), target=str(delivery_id))
    db.session.commit()
    return delivery


def _actor() -> str:
    current = getattr(audit, "current_actor", None)
    return str(current()) if callable(current) else "admin"
