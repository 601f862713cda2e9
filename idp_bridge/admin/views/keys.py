"""Signing keys screen (SPEC §12 screen 6): list with state; rotate (a dangerous action: fresh sign-in)."""

from __future__ import annotations

from flask import redirect, request
from werkzeug.wrappers import Response

from idp_bridge.admin import bp
from idp_bridge.admin.forms import ActionForm
from idp_bridge.admin.views.render import page, stale_signin
from idp_bridge.oidc import keystore


@bp.get("/keys")
def keys() -> Response:
    keystore.signing_key("RS256")
    return page("keys.html", rows=[k.describe() for k in keystore.list_keys()], form=ActionForm(),
                algs=keystore.ALGORITHMS, done=request.args.get("done"))


@bp.post("/keys/rotate")
def keys_rotate() -> Response:
    if (stale := stale_signin("/admin/keys")) is not None:
        return stale
    alg = request.form.get("alg", "RS256")
    keystore.rotate(alg if alg in keystore.ALGORITHMS else "RS256")
    return redirect("/admin/keys?done=1", 303)
