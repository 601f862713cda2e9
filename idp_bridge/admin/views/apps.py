"""Applications screen (SPEC §12 screen 3): list, register, edit, rotate the secret (shown once), Try login,
the discovery URL and ready-to-paste settings for common relying parties (``admin/rp_settings.py``).
Every rule is ``oidc/registration.py``'s and ``events/backchannel.py``'s — the functions ``idp-bridge client``
calls — so a refused field reads the same in both."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request
from werkzeug.wrappers import Response

from idp_bridge import audit
from idp_bridge.admin import bp, rp_settings
from idp_bridge.admin.forms import ActionForm, ClientForm, DeleteForm, attach, lines
from idp_bridge.admin.signin import CLIENT_ID as CONSOLE_CLIENT_ID
from idp_bridge.admin.views.render import page, stale_signin
from idp_bridge.apps import try_redirect_uri
from idp_bridge.config import current_settings
from idp_bridge.events import backchannel
from idp_bridge.oidc import registration
from idp_bridge.oidc.models import Client
from idp_bridge.validation import ValidationError

#: Domain field (as the CLI names it) → console form field.
FIELDS = {"redirect_uri": "redirect_uris", "post_logout_redirect_uri": "logout_uris", "web_origin": "web_origins",
          "connection": "connections", "client": "name"}


def _client(client_id: str) -> Client:
    client = registration.get_client(client_id)
    if client is None:
        abort(404)
    return client


def _values(form: ClientForm) -> dict[str, Any]:
    return {"redirect_uris": lines(form.redirect_uris.data), "post_logout_redirect_uris": lines(form.logout_uris.data),
            "web_origins": lines(form.web_origins.data), "connections": lines(form.connections.data),
            "third_party": form.third_party.data, "try_page": form.try_page.data,
            "id_token_alg": form.id_token_alg.data, "resource_server": form.resource_server.data}


def _settings(client: Client) -> dict[str, Any]:
    issuer = current_settings().issuer
    return {"discovery": rp_settings.discovery_url(issuer), "issuer": issuer,
            "try": f"{issuer}/apps/{client.client_id}/try", "backchannel": backchannel.uri_of(client.client_id),
            "paste": rp_settings.all_settings(issuer, client)}


def _shown(client: Client, secret: str | None = None) -> Response:
    return page("app_show.html", client=client, secret=secret, links=_settings(client), form=ActionForm(),
                delete=DeleteForm())


def _backchannel(form: ClientForm) -> str:
    """The submitted back-channel logout URI ('' = none), checked before anything is written."""
    uri = (form.backchannel_logout_uri.data or "").strip()
    if uri:
        backchannel.check_uri(uri)
    return uri


def _save_backchannel(client: Client, uri: str) -> None:
    if (backchannel.uri_of(client.client_id) or "") != uri:
        backchannel.set_uri(client.client_id, uri)
        audit.record("client.backchannel", actor=audit.current_actor(), target=client.client_id,
                     uri=uri or None)


def _wire_try_page(client: Client) -> None:
    """The "Try login" page (SPEC §8) signs in through its own callback and origin: register both at once, as
    `idp-bridge demo` does, so the button works on the first click."""
    issuer = current_settings().issuer
    registration.update_client(client, redirect_uris=[*client.redirect_uris,
                                                      try_redirect_uri(issuer, client.client_id)],
                               web_origins=[*client.web_origins, issuer])


@bp.get("/apps")
def apps() -> Response:
    return page("apps.html", rows=registration.list_clients(), console_id=CONSOLE_CLIENT_ID)


@bp.route("/apps/new", methods=["GET", "POST"])
def app_new() -> Response:
    form = ClientForm()
    if request.method == "POST":
        values = _values(form)
        try:
            uri = _backchannel(form)
            client, secret = registration.create_client(form.name.data or "", values.pop("redirect_uris"),
                                                        public=bool(form.public.data), **values)
        except ValidationError as exc:
            attach(form, exc, FIELDS)
            return page("app_form.html", status=400, form=form, client=None)
        if client.try_page:
            _wire_try_page(client)
        _save_backchannel(client, uri)
        return _shown(client, secret)
    return page("app_form.html", form=form, client=None)


@bp.get("/apps/<client_id>")
def app_show(client_id: str) -> Response:
    return _shown(_client(client_id))


@bp.route("/apps/<client_id>/edit", methods=["GET", "POST"])
def app_edit(client_id: str) -> Response:
    client = _client(client_id)
    if client.client_id == CONSOLE_CLIENT_ID:
        abort(403)  # the console's own sign-in follows the issuer; editing it could lock every admin out
    if request.method == "GET":
        form = ClientForm(data={
            "name": client.name, "redirect_uris": "\n".join(client.redirect_uris),
            "logout_uris": "\n".join(client.post_logout_redirect_uris), "web_origins": "\n".join(client.web_origins),
            "connections": "\n".join(c.identifier for c in client.connections), "public": client.public,
            "third_party": client.third_party, "try_page": client.try_page,
            "resource_server": client.resource_server, "id_token_alg": client.id_token_signed_response_alg,
            "backchannel_logout_uri": backchannel.uri_of(client.client_id) or ""})
        return page("app_form.html", form=form, client=client)
    form = ClientForm()
    values = _values(form)
    try:
        uri = _backchannel(form)
        registration.update_client(client, name=form.name.data, **values)
    except ValidationError as exc:
        attach(form, exc, FIELDS)
        return page("app_form.html", status=400, form=form, client=client)
    _save_backchannel(client, uri)
    return redirect(f"/admin/apps/{client.client_id}", 303)


@bp.post("/apps/<client_id>/rotate-secret")
def app_rotate_secret(client_id: str) -> Response:
    client = _client(client_id)
    if (stale := stale_signin(f"/admin/apps/{client.client_id}")) is not None:
        return stale
    try:
        secret = registration.rotate_secret(client)
    except ValidationError:
        abort(400)
    return _shown(client, secret)


@bp.post("/apps/<client_id>/delete")
def app_delete(client_id: str) -> Response:
    """Delete after typing the client_id; a dangerous action: fresh sign-in (SPEC §12)."""
    client = _client(client_id)
    if client.client_id == CONSOLE_CLIENT_ID:
        abort(403)
    if (stale := stale_signin(f"/admin/apps/{client.client_id}")) is not None:
        return stale
    if DeleteForm().confirm.data != client.client_id:
        abort(400)
    registration.delete_client(client)
    return redirect("/admin/apps", 303)
