"""`idp-bridge webhook …`: receivers of events (SPEC §14). Every rule is ``events.webhooks``'s, which the
console's Webhooks screen calls too: event types are checked there (not by a click.Choice), so an unknown type
is refused in the same words by both."""

from __future__ import annotations

from typing import Any

import click

from idp_bridge.cli.common import invalid_input, loader
from idp_bridge.cli.output import emit, json_errors, json_option
from idp_bridge.events import webhooks
from idp_bridge.events.outbox import TYPES
from idp_bridge.numbers import ROW_ID_MAX

_load = loader(webhooks.get_webhook, "webhook")
_EVENT_HELP = f"Event type, repeat for several: {', '.join(TYPES)}."


def register(cli: click.Group) -> None:
    """Attach ``webhook`` to the console script."""

    @cli.group("webhook")
    def webhook_group() -> None:
        """Manage webhooks (Standard Webhooks deliveries of events)."""

    @webhook_group.command("create")
    @click.option("--url", required=True, help="Receiver URL (public address unless "
                                               "IDP_BRIDGE_WEBHOOK_ALLOW_PRIVATE=1).")
    @click.option("--event", "events", multiple=True, required=True, help=_EVENT_HELP)
    @click.option("--connection", help="Only this connection's events.")
    @json_option
    @json_errors
    def create(url: str, events: tuple[str, ...], connection: str | None, as_json: bool) -> None:
        """Create a webhook; its signing secret is printed once."""
        with invalid_input():
            hook, secret = webhooks.create_webhook(url, events, connection)
        body: dict[str, Any] = {**webhooks.describe(hook), "secret": secret}
        emit(body, as_json)
        if not as_json:
            click.echo("\nStore the secret now: it is not shown again.")

    @webhook_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List webhooks."""
        items = [webhooks.describe(h) for h in webhooks.list_webhooks()]
        if as_json:
            emit({"webhooks": items}, True)
            return
        for item in items:
            flag = "" if item["enabled"] else " (disabled)"
            click.echo(f"{item['id']}  {item['url']}  {','.join(item['events'])}{flag}")
        if not items:
            click.echo("No webhooks yet: create one with `idp-bridge webhook create`.")

    @webhook_group.command("show")
    @click.argument("webhook_id")
    @json_option
    @json_errors
    def show(webhook_id: str, as_json: bool) -> None:
        """Show a webhook."""
        emit(webhooks.describe(_load(webhook_id)), as_json)

    @webhook_group.command("update")
    @click.argument("webhook_id")
    @click.option("--url")
    @click.option("--event", "events", multiple=True, help="Replaces the subscribed types. " + _EVENT_HELP)
    @click.option("--connection", help="Only this connection's events ('' for all).")
    @click.option("--enabled/--disabled", default=None)
    @click.option("--rotate-secret", is_flag=True, help="New signing secret, printed once.")
    @json_option
    @json_errors
    def update(webhook_id: str, url: str | None, events: tuple[str, ...], connection: str | None,
               enabled: bool | None, rotate_secret: bool, as_json: bool) -> None:
        """Change a webhook."""
        hook = _load(webhook_id)
        with invalid_input():
            secret = webhooks.update_webhook(hook, url, events or None, connection, enabled, rotate_secret)
        body: dict[str, Any] = webhooks.describe(hook)
        if secret:
            body["secret"] = secret
        emit(body, as_json)

    @webhook_group.command("delete")
    @click.argument("webhook_id")
    @json_option
    @json_errors
    def delete(webhook_id: str, as_json: bool) -> None:
        """Delete a webhook and its delivery log."""
        webhooks.delete_webhook(_load(webhook_id))
        emit({"deleted": webhook_id}, as_json, f"Deleted webhook {webhook_id}.")

    @webhook_group.command("deliveries")
    @click.argument("webhook_id")
    @json_option
    @json_errors
    def deliveries(webhook_id: str, as_json: bool) -> None:
        """The delivery log of a webhook (newest first), every attempt with status, duration and error."""
        items = webhooks.deliveries(_load(webhook_id))
        if as_json:
            emit({"deliveries": items}, True)
            return
        for item in items:
            last = item["log"][-1] if item["log"] else {}
            click.echo(f"{item['id']}  {item['event']:<20} {item['state']:<9} attempts={item['attempts']} "
                       f"last={last.get('status') or last.get('error') or '-'}")
        if not items:
            click.echo("No deliveries yet.")

    @webhook_group.command("redeliver")
    @click.argument("delivery_id", type=click.IntRange(1, ROW_ID_MAX))
    @json_option
    @json_errors
    def redeliver(delivery_id: int, as_json: bool) -> None:
        """Send a delivery again now (same webhook-id, so receivers can de-duplicate)."""
        with invalid_input():
            delivery = webhooks.redeliver(delivery_id)
        emit({"redelivering": delivery.id, "message_id": delivery.message_id}, as_json,
             f"Delivery {delivery.id} queued again.")
