"""Writing to the outbox (SPEC §14 "at least once").

:func:`emit` adds the event and one delivery per subscribed webhook to the *current* session and does not
commit: the caller's commit makes the change and its event durable together, a rollback drops both. Nothing
here does network I/O, so emitting never slows a login or a WeChat push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp_bridge import cache
from idp_bridge.events.models import WEBHOOKS_KIND, ClientBackchannel, Delivery, Event, Webhook
from idp_bridge.extensions import db

#: Event types a webhook may subscribe to (SPEC §14).
TYPES = ("user.created", "user.login", "login.refused", "wechat.subscribe", "wechat.unsubscribe",
         "user.blocked", "user.deleted", "identity.linked")
#: Internal type of a back-channel logout (delivered to a client, never to a webhook).
BACKCHANNEL = "oidc.backchannel_logout"


def emit(type_: str, data: dict[str, Any], *, connection_id: int | None = None, ref: str | None = None) -> Event:
    """Record ``type_`` with ``data`` in the caller's transaction and queue it for every webhook that wants it
    (a webhook bound to a connection hears only that connection's events)."""
    if type_ not in TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    event = Event(type=type_, data=data, ref=ref)
    db.session.add(event)
    wanted = [hook for hook in _subscriptions() if type_ in hook.event_types
              and (hook.connection_id is None or hook.connection_id == connection_id)]
    if wanted:
        db.session.flush()  # the deliveries need the event's id
    for hook in wanted:
        db.session.add(Delivery(event_id=event.id, kind="webhook", webhook_id=hook.id, url=hook.url))
    return event


@dataclass(frozen=True)
class Subscription:
    """What ``emit`` needs of an enabled webhook."""

    id: int
    url: str
    event_types: frozenset[str]
    connection_id: int | None


def _load_subscriptions() -> tuple[Subscription, ...]:
    hooks = db.session.scalars(db.select(Webhook).where(Webhook.enabled.is_(True)).order_by(Webhook.id))
    return tuple(Subscription(h.id, h.url, frozenset(h.event_types or ()), h.connection_id) for h in hooks)


def _subscriptions() -> tuple[Subscription, ...]:
    """The enabled webhooks, from the per-process cache: a change to any webhook reaches every worker at once."""
    return cache.cached(WEBHOOKS_KIND, "enabled", _load_subscriptions) or ()


def emit_backchannel(client_id: str, sub: str, sid: str | None) -> Delivery | None:
    """Queue a logout token for ``client_id`` (OIDC Back-Channel Logout 1.0 §2.7), if it registered a
    ``backchannel_logout_uri``; the token itself is signed when it is sent (fresh ``iat`` on each retry)."""
    target = db.session.get(ClientBackchannel, client_id)
    if target is None:
        return None
    event = Event(type=BACKCHANNEL, data={"client_id": client_id, "sub": sub, "sid": sid})
    db.session.add(event)
    db.session.flush()
    delivery = Delivery(event_id=event.id, kind="backchannel", client_id=client_id, url=target.uri)
    db.session.add(delivery)
    return delivery
