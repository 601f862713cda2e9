"""The console's Webhooks screen (SPEC §12 screen 8, §14) over real HTTP on both databases: create with the secret
shown once, a real delivery to a real receiver in the log, redeliver with the same webhook-id, edit, rotate,
delete; refused input shown next to its field in the CLI's words with nothing written; viewer 403; CSRF 400;
every action audited with the admin's sub."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from standardwebhooks import Webhook as Verifier

from idp_bridge.accounts import admin
from idp_bridge.config import settings_of
from idp_bridge.events.models import Delivery, Webhook
from idp_bridge.events.webhooks import create_webhook
from idp_bridge.extensions import db
from tests.admin.signed_in import Console, audited, field_error
from tests.events.receiver import Receiver, start_receiver
from tests.events.test_outbox import drain
from tests.login.conftest import make_connection  # noqa: F401  (fixture)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The receiver listens on loopback: allow private targets (the SSRF test turns it off again)."""
    return {**app_config, "simulator": True, "webhook_allow_private": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from start_receiver()


def _hooks(app: Flask) -> list[Webhook]:
    with app.app_context():
        return list(db.session.scalars(db.select(Webhook).order_by(Webhook.id)))


def _secret(html: str) -> str:
    found = re.search(r'id="webhook-secret">(whsec_[A-Za-z0-9+/=]+)<', html)
    assert found, "the secret is not on the page"
    return found.group(1)


def test_create_deliver_redeliver_edit_rotate_delete(app: Flask, live_url: str, receiver: Receiver) -> None:
    console = Console(app, live_url)
    assert "Nothing here yet" in console.get("/admin/webhooks").text
    created = console.post("/admin/webhooks/new", {"url": receiver.url + "/in", "events": ["user.created"],
                                                   "connection": ""})
    assert created.status_code == 200, created.text[:500]
    secret = _secret(created.text)
    [hook] = _hooks(app)
    assert hook.url == receiver.url + "/in" and hook.event_types == ["user.created"] and hook.enabled
    # Shown once: never again on the webhook's page or the list, nor stored in the clear.
    shown = console.get(f"/admin/webhooks/{hook.public_id}")
    assert shown.status_code == 200 and secret not in shown.text and secret not in hook.secret_sealed
    assert secret not in console.get("/admin/webhooks").text
    assert hook.public_id in console.get("/admin/webhooks").text
    zh = console.http.get(f"{live_url}/admin/webhooks/{hook.public_id}", headers={"Accept-Language": "zh-CN"},
                          timeout=20).text
    assert "投递记录" in zh and "重新投递" not in zh  # (no delivery yet: no Redeliver button)
    # A real event reaches the real receiver, signed with that secret; the log shows it delivered.
    with app.app_context():
        admin.create_user(name="Lin")
        drain()
    first = receiver.wait_for(1)[0]
    assert Verifier(secret).verify(first.body, first.headers)["type"] == "user.created"
    log = console.get(f"/admin/webhooks/{hook.public_id}").text
    with app.app_context():
        delivery = db.session.scalars(db.select(Delivery).where(Delivery.webhook_id == hook.id)).one()
    assert delivery.message_id in log and re.search(rf'id="delivery-{delivery.id}".*?delivered', log, re.S)
    # Redeliver: queued again, sent again with the same webhook-id (receivers de-duplicate on it).
    again = console.post(f"/admin/webhooks/{hook.public_id}/deliveries/{delivery.id}/redeliver")
    assert again.status_code == 303 and again.headers["Location"].endswith("?done=1")
    assert 'id="done"' in console.get(again.headers["Location"]).text
    with app.app_context():
        drain()
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == delivery.message_id
    # Edit: URL, types, disabled.
    edit_page = console.get(f"/admin/webhooks/{hook.public_id}/edit")
    assert edit_page.status_code == 200 and receiver.url + "/in" in edit_page.text
    edited = console.post(f"/admin/webhooks/{hook.public_id}/edit", {"url": receiver.url + "/v2",
                                                                     "events": ["user.created", "user.deleted"],
                                                                     "connection": ""})
    assert edited.status_code == 303
    [hook] = _hooks(app)
    assert (hook.url, hook.event_types, hook.enabled) == (receiver.url + "/v2", ["user.created", "user.deleted"],
                                                          False)
    # Rotate: a new secret, shown once.
    rotated = console.post(f"/admin/webhooks/{hook.public_id}/rotate-secret")
    assert rotated.status_code == 200 and _secret(rotated.text) != secret
    # Delete only after typing the ID.
    assert console.post(f"/admin/webhooks/{hook.public_id}/delete", {"confirm": "wh_other"}).status_code == 400
    assert len(_hooks(app)) == 1
    assert console.post(f"/admin/webhooks/{hook.public_id}/delete", {"confirm": hook.public_id}).status_code == 303
    assert _hooks(app) == []
    assert console.get(f"/admin/webhooks/{hook.public_id}").status_code == 404
    for action in ("webhook.create", "webhook.redeliver", "webhook.update", "webhook.delete"):
        assert [e.actor for e in audited(app, action)][:1] == [console.sub], action


def test_refused_input_is_shown_by_its_field_in_the_cli_words_and_nothing_is_written(
        app: Flask, live_url: str, cli_run: Any, make_connection: Any) -> None:  # noqa: F811
    app.config["IDP_BRIDGE"] = dataclasses.replace(settings_of(app), webhook_allow_private=False)
    make_connection("acme")
    console = Console(app, live_url)
    cases = [
        ("url", {"url": "http://127.0.0.1:9/hook", "events": ["user.created"]}),
        ("url", {"url": "https://user:pw@1.1.1.1/h", "events": ["user.created"]}),
        ("url", {"url": "not a url", "events": ["user.created"]}),
        ("events", {"url": "https://1.1.1.1/h", "events": ["user.exploded"]}),
        ("events", {"url": "https://1.1.1.1/h"}),
        ("connection", {"url": "https://1.1.1.1/h", "events": ["user.created"], "connection": "nope"}),
    ]
    for field, form in cases:
        answer = console.post("/admin/webhooks/new", form)
        assert answer.status_code == 400, (form, answer.status_code)
        shown = field_error(answer.text, field)
        if field != "events" or form.get("events"):  # the CLI requires --event: no CLI twin for "none chosen"
            args = ["--url", str(form["url"])] + [a for e in form.get("events", []) for a in ("--event", e)]
            if form.get("connection"):
                args += ["--connection", str(form["connection"])]
            cli = json.loads(cli_run("webhook", "create", *args, "--json").output)
            assert shown == f"{cli['field']}: {cli['rule']}", (shown, cli)
        assert 'class="field-error"' in answer.text
    assert _hooks(app) == [] and audited(app, "webhook.create") == []
    # Editing with a refused value changes nothing either.
    with app.app_context():
        hook, _ = create_webhook("https://1.1.1.1/h", ["user.created"])
        public_id = hook.public_id
    bad = console.post(f"/admin/webhooks/{public_id}/edit", {"url": "http://10.0.0.1/h", "events": ["user.deleted"],
                                                             "enabled": "y"})
    assert bad.status_code == 400 and "resolves to a loopback, private or link-local" in field_error(bad.text, "url")
    [hook] = _hooks(app)
    assert (hook.url, hook.event_types) == ("https://1.1.1.1/h", ["user.created"])
    assert audited(app, "webhook.update") == []


def test_viewer_reads_but_every_post_is_403_and_a_missing_csrf_token_is_400(app: Flask, live_url: str) -> None:
    with app.app_context():
        hook, _ = create_webhook("https://1.1.1.1/h", ["user.created"])
        public_id = hook.public_id
        admin.create_user(name="Mo")
        delivery_id = db.session.scalars(db.select(Delivery.id)).one()
    posts = {"/admin/webhooks/new": {"url": "https://1.1.1.1/x", "events": ["user.created"]},
             f"/admin/webhooks/{public_id}/edit": {"url": "https://1.1.1.1/y", "events": ["user.deleted"]},
             f"/admin/webhooks/{public_id}/rotate-secret": {},
             f"/admin/webhooks/{public_id}/deliveries/{delivery_id}/redeliver": {},
             f"/admin/webhooks/{public_id}/delete": {"confirm": public_id}}
    viewer = Console(app, live_url, "viewer")
    for path in ("/admin/webhooks", f"/admin/webhooks/{public_id}"):
        page = viewer.get(path)
        assert page.status_code == 200 and 'id="redeliver-' not in page.text and 'id="new-webhook"' not in page.text
    assert viewer.get(f"/admin/webhooks/{public_id}/edit").status_code == 200  # a form it cannot submit
    for path, form in posts.items():
        assert viewer.post(path, form).status_code == 403, path
    admin_console = Console(app, live_url)
    for path, form in posts.items():
        assert admin_console.post(path, form, csrf=False).status_code == 400, path
    [hook] = _hooks(app)
    assert (hook.url, hook.event_types) == ("https://1.1.1.1/h", ["user.created"])
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).attempts == 0
    for action in ("webhook.create", "webhook.update", "webhook.redeliver", "webhook.delete"):
        assert not [e for e in audited(app, action) if e.actor.startswith(("viewer", "admin"))], action


def test_the_delivery_log_is_paginated_and_a_delivery_belongs_to_its_webhook(app: Flask, live_url: str) -> None:
    with app.app_context():
        hook, _ = create_webhook("https://1.1.1.1/h", ["user.created"])
        other, _ = create_webhook("https://1.1.1.1/other", ["user.created"])
        hook_id, other_id = hook.public_id, other.public_id
        for n in range(23):
            admin.create_user(name=f"U{n}")
        ours = list(db.session.scalars(db.select(Delivery.id).where(Delivery.webhook_id == hook.id)
                                       .order_by(Delivery.id.desc())))
        theirs = db.session.scalars(db.select(Delivery.id).where(Delivery.webhook_id == other.id)).first()
    console = Console(app, live_url)
    first = console.get(f"/admin/webhooks/{hook_id}").text
    assert first.count('id="delivery-') == 20 and f'id="delivery-{ours[0]}"' in first
    more = re.search(r'id="next" href="([^"]+)"', first)
    assert more
    second = console.get(more.group(1).replace("&amp;", "&")).text
    assert second.count('id="delivery-') == 3 and f'id="delivery-{ours[-1]}"' in second
    assert 'id="next"' not in second
    # Another webhook's delivery is not reachable through this one; a junk cursor is the first page.
    assert console.post(f"/admin/webhooks/{hook_id}/deliveries/{theirs}/redeliver").status_code == 404
    assert console.post(f"/admin/webhooks/{other_id}/deliveries/{ours[0]}/redeliver").status_code == 404
    assert console.get(f"/admin/webhooks/{hook_id}", before="x").text.count('id="delivery-') == 20
    assert console.post(f"/admin/webhooks/{hook_id}/deliveries/99999999999/redeliver").status_code == 404
