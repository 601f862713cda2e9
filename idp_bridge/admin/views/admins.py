"""Admins screen (SPEC §12 screen 7): list, invite (a dangerous action: fresh sign-in), revoke — the same
functions as ``idp-bridge admin``."""

from __future__ import annotations

from flask import abort, redirect
from werkzeug.wrappers import Response

from idp_bridge.admin import admins as domain
from idp_bridge.admin import bp
from idp_bridge.admin.forms import ActionForm, InviteForm
from idp_bridge.admin.views.render import page, stale_signin
from idp_bridge.config import current_settings


@bp.get("/admins")
def admins() -> Response:
    return page("admins.html", rows=domain.list_admins(), form=InviteForm(), action=ActionForm(), url=None)


@bp.post("/admins/invite")
def admins_invite() -> Response:
    if (stale := stale_signin("/admin/admins")) is not None:
        return stale
    form = InviteForm()
    if not form.validate():
        abort(400)
    token, _ = domain.create_invite(form.role.data)
    return page("admins.html", rows=domain.list_admins(), form=form, action=ActionForm(),
                url=domain.invite_url(current_settings().issuer, token))


@bp.post("/admins/<sub>/revoke")
def admins_revoke(sub: str) -> Response:
    if domain.revoke(sub) is None:
        abort(404)
    return redirect("/admin/admins", 303)
