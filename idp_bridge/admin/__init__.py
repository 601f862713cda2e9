"""The admin console (SPEC §12): a blueprint at ``/admin/``, signed in by dogfooding our own OIDC provider.

Every console request passes :func:`guard`: no console session → sign-in (never a 5xx); a viewer's POST →
403; a POST without Flask-WTF's CSRF token → 400; the admin's ``sub`` becomes the audit actor.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, g, redirect, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError as CsrfInvalid

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Console endpoints reachable without a console session: the sign-in flow itself.
OPEN = {"admin.signin", "admin.callback", "admin.invite", "admin.signed_out"}


@bp.before_request
def guard() -> Response | None:
    from idp_bridge.admin import session
    from idp_bridge.admin.i18n import words

    g.admin_words = words()
    if request.endpoint in OPEN:
        return None
    row = session.current()
    if row is None:
        target = request.full_path if request.method == "GET" else "/admin/"
        return redirect("/admin/signin?" + _query(target), 303)
    g.admin_session, g.admin = row, row.admin
    g.audit_actor = row.admin.sub
    if request.method == "POST":
        if row.admin.role != "admin" and request.endpoint != "admin.signout":  # viewers may only leave
            abort(403)
        try:
            validate_csrf(request.form.get("csrf_token"))
        except CsrfInvalid as exc:
            raise CSRFError(str(exc)) from None
    return None


def _query(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target.rstrip("?")})


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    from flask_wtf.csrf import generate_csrf

    return {"console_csrf": generate_csrf}


@bp.after_request
def no_store(response: Response) -> Response:
    """Console pages show personal data and one-time secrets: never cached (RFC 9111 §5.2.2.5)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the console (only when ``IDP_BRIDGE_ADMIN`` is on)."""
    from idp_bridge.admin import views  # noqa: F401  (routes attach to ``bp``)

    app.register_blueprint(bp)
