"""Outbox and sender (SPEC §14): Standard Webhooks deliveries verified as a receiver would, retries with
backoff, every attempt logged, leases that survive a dead sender, SSRF refusal."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from idp_bridge.accounts import admin
from idp_bridge.config import settings_of
from idp_bridge.events import sender
from idp_bridge.events.models import Delivery, DeliveryAttempt, Event
from idp_bridge.events.webhooks import create_webhook
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError
from tests.events.receiver import Receiver

FAST = sender.Policy(backoff=(0.2, 0.2, 0.2), lease=timedelta(seconds=2))


def drain(policy: sender.Policy = FAST, rounds: int = 50) -> int:
    """Run the sender in this process until nothing is due (waiting out short backoffs); returns attempts."""
    import time

    sent = 0
    for _ in range(rounds):
        if sender.run_once(policy):
            sent += 1
            continue
        pending = db.session.scalar(db.select(db.func.count()).select_from(Delivery)
                                    .where(Delivery.state == "pending"))
        db.session.commit()
        if not pending:
            break
        time.sleep(0.1)
    return sent


def forbid_private(app: Flask) -> None:
    """The production default: IDP_BRIDGE_WEBHOOK_ALLOW_PRIVATE unset."""
    app.config["IDP_BRIDGE"] = dataclasses.replace(settings_of(app), webhook_allow_private=False)


def verify(secret: str, received: Any) -> dict[str, Any]:
    return dict(Verifier(secret).verify(received.body, received.headers))


def test_an_event_arrives_once_signed_as_standard_webhooks(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        _hook, secret = create_webhook(receiver.url + "/hook", ["user.created", "user.blocked"])
        user = admin.create_user(name="Ada")
        assert drain() == 1
        got = receiver.wait_for(1)
        assert len(got) == 1
        payload = verify(secret, got[0])
        assert payload["type"] == "user.created" and payload["data"]["user"] == user.sub
        assert got[0].headers["webhook-id"].startswith("msg_")
        with pytest.raises(WebhookVerificationError):  # another secret does not verify
            Verifier("whsec_" + "A" * 43 + "=").verify(got[0].body, got[0].headers)


def test_the_event_row_commits_with_the_change_or_not_at_all(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        create_webhook(receiver.url, ["user.blocked"])
        user = admin.create_user(name="Bo")
        user.blocked = True
        from idp_bridge import signals

        signals.user_blocked.send(None, user_id=user.id)
        db.session.rollback()  # the change is abandoned: its event must go with it
        assert db.session.scalar(db.select(db.func.count()).select_from(Event)
                                 .where(Event.type == "user.blocked")) == 0
        admin.set_blocked(db.session.get(type(user), user.id), True)
        assert db.session.scalar(db.select(db.func.count()).select_from(Event)
                                 .where(Event.type == "user.blocked")) == 1


def test_500_twice_then_200_delivers_on_the_third_attempt_and_logs_all(app: Flask, receiver: Receiver) -> None:
    receiver.statuses = [500, 500]
    with app.app_context():
        _hook, secret = create_webhook(receiver.url, ["user.created"])
        admin.create_user(name="Cy")
        assert drain() == 3
        got = receiver.wait_for(3)
        assert len(got) == 3
        assert len({r.headers["webhook-id"] for r in got}) == 1  # one message, retried
        assert verify(secret, got[2])["type"] == "user.created"
        delivery = db.session.scalars(db.select(Delivery)).one()
        assert delivery.state == "delivered" and delivery.attempts == 3
        log = list(db.session.scalars(db.select(DeliveryAttempt).order_by(DeliveryAttempt.id)))
        assert [a.status for a in log] == [500, 500, 200]
        assert all(a.duration_ms >= 0 for a in log)


def test_backoff_follows_the_schedule_and_gives_up_after_a_day(app: Flask, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    policy = sender.Policy()
    with app.app_context():
        create_webhook(receiver.url, ["user.created"])
        admin.create_user()
        before = utcnow()
        assert sender.run_once(policy)
        delivery = db.session.scalars(db.select(Delivery)).one()
        assert timedelta(seconds=4) < delivery.next_attempt_at - before < timedelta(seconds=7)
        assert delivery.state == "pending" and delivery.last_status == 503
        delivery.created_at = utcnow() - timedelta(hours=24)  # a day of failures later
        delivery.next_attempt_at = utcnow()
        db.session.commit()
        assert sender.run_once(policy)
        db.session.refresh(delivery)
        assert delivery.state == "failed"
        assert sender.Policy().delay(2) == 30 and sender.Policy().delay(6) == 10800
        assert sender.Policy().delay(9) == 10800


def test_a_claim_whose_sender_died_is_retried_after_its_lease(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        create_webhook(receiver.url, ["user.created"])
        admin.create_user()
        claimed = sender.claim(FAST)  # this "sender" dies here, before posting
        assert claimed is not None
        assert sender.claim(FAST) is None  # nobody else takes a live claim
        import time

        time.sleep(2.2)
        assert drain() == 1
        assert len(receiver.wait_for(1)) == 1
        assert db.session.scalars(db.select(Delivery)).one().state == "delivered"


def test_a_loopback_target_is_refused_without_the_flag(app: Flask, receiver: Receiver) -> None:
    forbid_private(app)
    with app.app_context():
        for url in (receiver.url, "http://localhost:1/x", "http://10.0.0.1/", "http://169.254.169.254/latest",
                    "http://[::1]:80/", "ftp://example.com/"):
            with pytest.raises(ValidationError):
                create_webhook(url, ["user.created"])


def test_a_target_that_turned_private_is_refused_at_send_time(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        create_webhook(receiver.url, ["user.created"])
        admin.create_user()
        forbid_private(app)
        assert sender.run_once(FAST)
        delivery = db.session.scalars(db.select(Delivery)).one()
        assert delivery.state == "pending" and delivery.last_error.startswith("refused")
        assert receiver.requests == []


def test_body_is_type_timestamp_data(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        create_webhook(receiver.url, ["user.created"])
        admin.create_user()
        drain()
        body = json.loads(receiver.wait_for(1)[0].body)
        assert set(body) == {"type", "timestamp", "data"} and body["timestamp"].endswith("Z")


def test_a_redirect_is_not_followed(app: Flask, receiver: Receiver) -> None:
    receiver.statuses = [307]
    with app.app_context():
        create_webhook(receiver.url + "/moved", ["user.created"])
        admin.create_user()
        assert sender.run_once(FAST)
        delivery = db.session.scalars(db.select(Delivery)).one()
        assert (delivery.state, delivery.last_status, delivery.last_error) == ("pending", 307, "HTTP 307")
        assert len(receiver.requests) == 1  # the Location (none here, or anywhere) was not fetched
