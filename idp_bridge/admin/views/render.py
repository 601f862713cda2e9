"""Rendering shared by the console screens."""

from __future__ import annotations

from typing import Any

from flask import g, render_template
from werkzeug.wrappers import Response


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page in the request's language, with the signed-in admin for the header."""
    body = render_template(f"admin/{template}", t=g.admin_words, lang=g.get("admin_lang", "en"),
                           me=g.get("admin"), **context)
    return Response(body, status=status, mimetype="text/html")


def can_write() -> bool:
    admin = g.get("admin")
    return admin is not None and admin.role == "admin"


def stale_signin(back: str) -> Response | None:
    """SPEC §12: dangerous actions need a sign-in younger than 5 minutes. A stale one is sent through the
    sign-in with ``max_age=300`` and comes back to ``back``, where the admin repeats the action."""
    from flask import redirect

    from idp_bridge.admin import session

    if session.is_fresh(g.admin_session):
        return None
    from urllib.parse import urlencode

    return redirect("/admin/signin?" + urlencode({"fresh": "1", "next": back}), 303)
