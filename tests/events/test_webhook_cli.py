"""`idp-bridge webhook …` (SPEC §14) on both databases: secret shown once, validation before writing, the
delivery log and redelivery."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from standardwebhooks import Webhook as Verifier

from idp_bridge.accounts import admin
from idp_bridge.events.models import Webhook
from idp_bridge.extensions import db
from tests.events.receiver import Receiver
from tests.events.test_outbox import drain


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_webhook_lifecycle(cli_run: Any, app: Flask, receiver: Receiver) -> None:
    body = _json(cli_run("webhook", "create", "--url", receiver.url + "/in", "--event", "user.created",
                         "--event", "user.deleted", "--json"))
    secret, hook_id = body["secret"], body["id"]
    assert secret.startswith("whsec_") and body["events"] == ["user.created", "user.deleted"]
    assert secret not in cli_run("webhook", "show", hook_id, "--json").output
    assert secret not in cli_run("webhook", "list", "--json").output
    with app.app_context():
        assert secret not in db.session.scalars(db.select(Webhook)).one().secret_sealed
        admin.create_user(name="Lin")
        drain()
    Verifier(secret).verify(receiver.wait_for(1)[0].body, receiver.requests[0].headers)
    log = _json(cli_run("webhook", "deliveries", hook_id, "--json"))["deliveries"]
    assert len(log) == 1 and log[0]["state"] == "delivered" and log[0]["log"][0]["status"] == 200
    again = _json(cli_run("webhook", "redeliver", str(log[0]["id"]), "--json"))
    assert again["message_id"] == log[0]["message_id"]
    with app.app_context():
        drain()
    assert len(receiver.wait_for(2)) == 2
    assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    rotated = _json(cli_run("webhook", "update", hook_id, "--rotate-secret", "--disabled", "--json"))
    assert rotated["secret"] != secret and rotated["enabled"] is False
    human = cli_run("webhook", "deliveries", hook_id)
    assert human.exit_code == 0 and "delivered" in human.output
    assert _json(cli_run("webhook", "delete", hook_id, "--json")) == {"deleted": hook_id}
    assert cli_run("webhook", "show", hook_id).exit_code == 1


def test_webhook_create_refuses_bad_input_and_writes_nothing(cli_run: Any, app: Flask) -> None:
    for field, args in (("url", ["--url", "not a url", "--event", "user.created"]),
                        ("connection", ["--url", "https://example.com/h", "--event", "user.created",
                                        "--connection", "nope"]),
                        ("url", ["--url", "https://user:pw@example.com/h", "--event", "user.created"])):
        result = cli_run("webhook", "create", *args, "--json")
        assert result.exit_code == 2 and json.loads(result.output)["field"] == field, (args, result.output)
    unknown = cli_run("webhook", "create", "--url", "https://example.com/h", "--event", "user.exploded")
    assert unknown.exit_code == 2 and "user.exploded" in unknown.output
    assert cli_run("webhook", "redeliver", "999999", "--json").exit_code == 2
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Webhook)) == 0
