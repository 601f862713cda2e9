"""Connections screen (SPEC §12 screen 2): list, create and edit with ``wechat/connections.py``'s rules shown
next to the field they name (the words ``idp-bridge connection`` prints), secrets write-only, the callback URL
to paste, Check (``stable_token`` + ``qrcode/create`` with the API client's advice per errcode), delete after
typing the identifier (fresh sign-in). Reach (§13) and event (§14) options go through ``wechat/options.py``,
as the CLI's do; a finished AES key change drops the previous key."""

from __future__ import annotations

import secrets
import string
from typing import Any

from flask import abort, current_app, redirect, request
from werkzeug.wrappers import Response

from idp_bridge import audit
from idp_bridge.admin import bp
from idp_bridge.admin.forms import ActionForm, ConnectionForm, DeleteForm, attach
from idp_bridge.admin.views.render import page, stale_signin
from idp_bridge.config import current_settings
from idp_bridge.validation import ValidationError
from idp_bridge.wechat import connections as domain
from idp_bridge.wechat import health, options
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection

_ALNUM = string.ascii_letters + string.digits
TEXT_FIELDS = ("display_name", "app_id", "app_secret", "token", "encoding_aes_key", "reply_text", "scene_prefix")


def generated() -> dict[str, str]:
    """Fresh Token and EncodingAESKey, as the WeChat console's "randomly generate" buttons make them."""
    return {"token": "".join(secrets.choice(_ALNUM) for _ in range(32)),
            "encoding_aes_key": "".join(secrets.choice(_ALNUM) for _ in range(43))}


def _connection(identifier: str) -> Connection:
    row = domain.get_connection(identifier)
    if row is None:
        abort(404)
    return row


def _options(form: ConnectionForm) -> dict[str, Any]:
    """Reach and event options as submitted: the form shows every one, so each is set (booleans included)."""
    return {"account_type": form.account_type.data, "account_qr_url": form.account_qr_url.data or "",
            "code_login": bool(form.code_login.data), "web_auth": bool(form.web_auth.data),
            "require_follow": bool(form.require_follow.data), "on_unsubscribe": form.on_unsubscribe.data,
            "forward_url": form.forward_url.data or ""}


def _filled(form: ConnectionForm) -> dict[str, Any]:
    """The submitted values; an empty secret or optional text means "keep" (None) like an absent CLI option."""
    values: dict[str, Any] = {name: (getattr(form, name).data or None) for name in TEXT_FIELDS}
    if values["reply_text"]:  # a textarea submits CRLF (HTML §4.10.11.3); the reply keeps plain LF line breaks
        values["reply_text"] = values["reply_text"].replace("\r\n", "\n").replace("\r", "\n")
    values.update(encryption=form.encryption.data, association=form.association.data,
                  login_only=bool(form.login_only.data), confirm_in_wechat=bool(form.confirm_in_wechat.data))
    return values


@bp.get("/connections")
def connections() -> Response:
    issuer = current_settings().issuer
    rows = [domain.describe(issuer, c) for c in domain.list_connections()]
    return page("connections.html", rows=rows)


@bp.route("/connections/new", methods=["GET", "POST"])
def connection_new() -> Response:
    form = ConnectionForm(data=generated() if request.method == "GET" else None)
    if request.method == "POST":
        values, chosen = _filled(form), _options(form)
        try:
            options.validate(None, chosen)
            row = domain.create_connection(current_app.config["SECRET_KEY"], identifier=form.identifier.data or "",
                                           display_name=values.pop("display_name") or "",
                                           app_id=values.pop("app_id") or "", app_secret=values.pop("app_secret") or "",
                                           token=values.pop("token") or "", **values)
        except ValidationError as exc:
            attach(form, exc, {})
            return page("connection_form.html", status=400, form=form, row=None)
        options.save(row, chosen)
        return redirect(f"/admin/connections/{row.identifier}", 303)
    return page("connection_form.html", form=form, row=None)


def _shown(row: Connection, check: list[dict[str, Any]] | None = None) -> Response:
    return page("connection_show.html", row=domain.describe(current_settings().issuer, row),
                extra=options.describe(row), form=ActionForm(), delete=DeleteForm(), check=check,
                health=health.of(row.id), done=request.args.get("done"))


@bp.get("/connections/<identifier>")
def connection_show(identifier: str) -> Response:
    return _shown(_connection(identifier))


@bp.post("/connections/<identifier>/drop-previous-key")
def connection_drop_previous_key(identifier: str) -> Response:
    """Finish an EncodingAESKey change (SPEC §12 screen 2): once WeChat signs with the new key, forget the old
    one so a leaked old key no longer decrypts anything. Idempotent: nothing to drop is not an error."""
    row = _connection(identifier)
    if row.previous_aes_key_sealed is not None:
        domain.update_connection(current_app.config["SECRET_KEY"], row, drop_previous_aes_key=True)
    return redirect(f"/admin/connections/{row.identifier}?done=1", 303)


@bp.route("/connections/<identifier>/edit", methods=["GET", "POST"])
def connection_edit(identifier: str) -> Response:
    row = _connection(identifier)
    if request.method == "GET":
        data = {**domain.describe(current_settings().issuer, row), **options.describe(row)}
        return page("connection_form.html", form=ConnectionForm(data=data), row=row)
    form = ConnectionForm()
    chosen = _options(form)
    try:
        options.validate(row, chosen)
        domain.update_connection(current_app.config["SECRET_KEY"], row, **_filled(form))
    except ValidationError as exc:
        attach(form, exc, {})
        return page("connection_form.html", status=400, form=form, row=row)
    options.save(row, chosen)
    return redirect(f"/admin/connections/{row.identifier}", 303)


def check(row: Connection) -> list[dict[str, Any]]:
    """Two real API calls, each reported in words: ``stable_token`` then a 60-second ``qrcode/create``."""
    from idp_bridge.wechat.service import client_for

    client, steps = client_for(row), []
    for name, call in (("stable_token", lambda: client.fetch_stable_token()),
                       ("qrcode/create", lambda: client.create_qrcode(f"{row.scene_prefix}check", 60))):
        try:
            call()
        except WeChatError as exc:
            steps.append({"call": name, "ok": False, "errcode": exc.errcode, "advice": exc.hint})
            break
        steps.append({"call": name, "ok": True, "errcode": 0, "advice": ""})
    return steps


@bp.post("/connections/<identifier>/check")
def connection_check(identifier: str) -> Response:
    row = _connection(identifier)
    steps = check(row)
    audit.record("connection.check", actor=audit.current_actor(), target=row.identifier,
                 outcome="ok" if all(s["ok"] for s in steps) else "failed",
                 errcode=next((s["errcode"] for s in steps if not s["ok"]), None))
    return _shown(row, steps)


@bp.post("/connections/<identifier>/delete")
def connection_delete(identifier: str) -> Response:
    row = _connection(identifier)
    if (stale := stale_signin(f"/admin/connections/{row.identifier}")) is not None:
        return stale
    if DeleteForm().confirm.data != row.identifier:
        abort(400)
    domain.delete_connection(row)
    return redirect("/admin/connections", 303)
