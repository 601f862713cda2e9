"""Sign-in, invite redemption and sign-out of the console (SPEC §12)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import g, redirect, request
from werkzeug.wrappers import Response

from idp_bridge import audit
from idp_bridge.admin import admins, bp, session, signin
from idp_bridge.admin.forms import ActionForm
from idp_bridge.admin.views.render import page
from idp_bridge.config import current_settings

log = logging.getLogger(__name__)


@bp.get("/signin", endpoint="signin")
def signin_start() -> Response:
    return signin.begin(request.args.get("next", "/admin/"), None, fresh=request.args.get("fresh") == "1")


@bp.get("/invite/<token>")
def invite(token: str) -> Response:
    """A one-time invite: sign in (always a fresh one), and the signed-in account gets the invite's role."""
    if admins.usable_invite(token) is None:
        return page("denied.html", status=403)
    return signin.begin("/admin/", token, fresh=True)


@bp.get("/callback")
def callback() -> Response:
    try:
        flow, claims = signin.finish()
    except signin.SignInFailed as exc:  # anyone can call this URL: a log line, not an audit row, per attempt
        log.info("console sign-in failed: %s", str(exc)[:40])
        response = page("denied.html", status=400, failed=True)
        signin.clear_flow(response)
        return response
    sub = claims["sub"]
    admin = admins.redeem(flow["invite"], sub) if flow.get("invite") else admins.active_admin(sub)
    if admin is None:
        audit.record("admin.signin", actor=sub, outcome="refused")
        response = page("denied.html", status=403)
    else:
        response = redirect(flow["next"], 303)
        session.end(session.current(), response)  # a re-authentication replaces the old console session
        session.start(admin, datetime.fromtimestamp(claims["auth_time"], UTC), response)
        audit.record("admin.signin", actor=sub, target=admin.role)
    signin.clear_flow(response)
    return response


@bp.post("/signout")
def signout() -> Response:
    ActionForm()
    audit.record("admin.signout", actor=g.admin.sub)
    response = redirect("/admin/signed-out", 303)
    session.end(g.admin_session, response)
    return response


@bp.get("/signed-out")
def signed_out() -> Response:
    """Offers RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2) to end the bridge's SSO session too."""
    return page("signed_out.html", logout_url=f"{current_settings().issuer}/oauth/logout?client_id="
                f"{signin.CLIENT_ID}")
