"""The outbox does not grow for ever (SPEC §15 retention, SPEC §14 delivery log): finished deliveries, their
attempts and events without deliveries go after 30 days; a pending delivery (and its event) never does."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from idp_bridge import retention
from idp_bridge.events.models import Delivery, DeliveryAttempt, Event
from idp_bridge.events.outbox import emit
from idp_bridge.events.webhooks import create_webhook
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow


def test_purge_keeps_pending_deliveries_and_recent_logs(app: Flask) -> None:
    with app.app_context():
        create_webhook("https://hooks.example/in", ["user.created"])
        old = utcnow() - timedelta(days=31)
        done_old, pending_old, done_new, bare_old = (emit("user.created", {"user": str(i)}) for i in range(4))
        db.session.flush()
        for event in (done_old, pending_old, bare_old):
            event.created_at = old
        deliveries = {d.event_id: d for d in db.session.scalars(db.select(Delivery))}
        db.session.delete(deliveries[bare_old.id])
        for event in (done_old, done_new):
            deliveries[event.id].state = "delivered"
        for event in (done_old, pending_old):
            deliveries[event.id].created_at = old
            db.session.add(DeliveryAttempt(delivery_id=deliveries[event.id].id, at=old, status=500))
        db.session.commit()
        retention.purge()  # first run: attempts and the finished delivery; the next run: its event
        counts = retention.purge()
        assert counts["events"] + counts["deliveries"] + counts["delivery_attempts"] <= 1
        left = set(db.session.scalars(db.select(Event.id)))
        assert left == {pending_old.id, done_new.id}
        assert {d.event_id for d in db.session.scalars(db.select(Delivery))} == {pending_old.id, done_new.id}
