"""Webhooks screen (SPEC §12 screen 8, §14): list, create (the signing secret shown once), edit, rotate the
secret, delete after typing the ID, the delivery log per webhook (paginated, newest first) and redelivery.

Every rule is ``events/webhooks.py``'s — the functions ``idp-bridge webhook`` calls — so a refused URL (the SSRF
guard), event type or connection reads the same here, next to its field, as in the CLI. Those functions audit
each change with ``audit.current_actor()``: the signed-in admin's ``sub``.
"""

from __future__ import annotations

from flask import abort, redirect, request
from werkzeug.wrappers import Response

from idp_bridge.admin import bp
from idp_bridge.admin.forms import ActionForm, DeleteForm, WebhookForm, attach
from idp_bridge.admin.views.render import page
from idp_bridge.events import webhooks as domain
from idp_bridge.events.models import Webhook
from idp_bridge.numbers import ROW_ID_MAX, parse_int_or
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.connections import list_connections

#: Deliveries per page of the log.
PAGE = 20
#: Domain field → form field.
FIELDS = {"event": "events"}


def _hook(public_id: str) -> Webhook:
    hook = domain.get_webhook(public_id)
    if hook is None:
        abort(404)
    return hook


def _form(data: dict[str, object] | None = None) -> WebhookForm:
    form = WebhookForm(data=data)
    form.connection.choices = [("", ""), *[(c.identifier, c.identifier) for c in list_connections()]]
    return form


def _show(hook: Webhook, secret: str | None = None) -> Response:
    before = parse_int_or(request.args.get("before"), 0, maximum=ROW_ID_MAX)
    log = domain.deliveries(hook, PAGE, before)
    more = log[-1]["id"] if len(log) == PAGE else None
    return page("webhook_show.html", hook=domain.describe(hook), secret=secret, log=log, more=more,
                first=bool(before), form=ActionForm(), delete=DeleteForm(), done=request.args.get("done"))


@bp.get("/webhooks")
def webhooks() -> Response:
    return page("webhooks.html", rows=[domain.describe(h) for h in domain.list_webhooks()])


@bp.route("/webhooks/new", methods=["GET", "POST"])
def webhook_new() -> Response:
    form = _form()
    if request.method == "POST":
        try:
            hook, secret = domain.create_webhook(form.url.data or "", form.events.data or [],
                                                 form.connection.data or None)
        except ValidationError as exc:
            attach(form, exc, FIELDS)
            return page("webhook_form.html", status=400, form=form, hook=None)
        return _show(hook, secret)
    return page("webhook_form.html", form=form, hook=None)


@bp.get("/webhooks/<public_id>")
def webhook_show(public_id: str) -> Response:
    return _show(_hook(public_id))


@bp.route("/webhooks/<public_id>/edit", methods=["GET", "POST"])
def webhook_edit(public_id: str) -> Response:
    hook = _hook(public_id)
    if request.method == "GET":
        now = domain.describe(hook)
        form = _form({"url": now["url"], "events": now["events"], "connection": now["connection"] or "",
                      "enabled": now["enabled"]})
        return page("webhook_form.html", form=form, hook=now)
    form = _form()
    try:
        domain.update_webhook(hook, form.url.data or "", form.events.data or [], form.connection.data or "",
                              bool(form.enabled.data))
    except ValidationError as exc:
        attach(form, exc, FIELDS)
        return page("webhook_form.html", status=400, form=form, hook=domain.describe(hook))
    return redirect(f"/admin/webhooks/{hook.public_id}", 303)


@bp.post("/webhooks/<public_id>/rotate-secret")
def webhook_rotate_secret(public_id: str) -> Response:
    """A new signing secret, shown once (the old one stops signing at once, as with ``--rotate-secret``)."""
    hook = _hook(public_id)
    return _show(hook, domain.update_webhook(hook, rotate_secret=True))


@bp.post("/webhooks/<public_id>/delete")
def webhook_delete(public_id: str) -> Response:
    hook = _hook(public_id)
    if DeleteForm().confirm.data != hook.public_id:
        abort(400)
    domain.delete_webhook(hook)
    return redirect("/admin/webhooks", 303)


@bp.post("/webhooks/<public_id>/deliveries/<delivery_id>/redeliver")
def webhook_redeliver(public_id: str, delivery_id: str) -> Response:
    """Queue a delivery again now with the same ``webhook-id`` (Standard Webhooks: receivers de-duplicate).
    The id is parsed here, not by a route converter, so that a malformed one still meets the console's guard
    (a viewer's POST is 403 whatever the URL) and then a 404; it is bounded to the column's 32-bit range."""
    hook = _hook(public_id)
    number = parse_int_or(delivery_id, 0, minimum=1, maximum=ROW_ID_MAX)
    if not number or domain.delivery_of(hook, number) is None:
        abort(404)
    domain.redeliver(number)
    return redirect(f"/admin/webhooks/{hook.public_id}?done=1", 303)
