"""A console session over real HTTP without the browser: an admin row, a live console session cookie, and the
CSRF token a page's form carries (as the console's own forms post it)."""

from __future__ import annotations

import re
import secrets

import requests
from flask import Flask

from idp_bridge.admin.models import Admin, AdminSession
from idp_bridge.admin.session import cookie_name
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest
from idp_bridge.timeutil import utcnow

_CSRF = (re.compile(r'name="csrf_token"[^>]*value="([^"]+)"'), re.compile(r'value="([^"]+)"[^>]*name="csrf_token"'))


class Console:
    """``role``'s browser: ``get``/``post`` on console paths; ``post`` adds the CSRF token unless told not to."""

    def __init__(self, app: Flask, live_url: str, role: str = "admin") -> None:
        self.base, self.sub = live_url, f"{role}-sub-{secrets.token_hex(3)}"
        token = secrets.token_urlsafe(32)
        with app.app_context():
            admin = Admin(sub=self.sub, role=role)
            db.session.add(admin)
            db.session.flush()
            db.session.add(AdminSession(digest=digest(token), admin_id=admin.id, auth_time=utcnow()))
            db.session.commit()
            name = cookie_name()
        self.http = requests.Session()
        self.http.cookies.set(name, token, path="/admin")
        self.csrf = csrf_of(self.get("/admin/users").text)

    def get(self, path: str, **params: str) -> requests.Response:
        return self.http.get(self.base + path, params=params, allow_redirects=False, timeout=20)

    def post(self, path: str, data: dict[str, object] | list[tuple[str, str]] | None = None,
             csrf: bool = True) -> requests.Response:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        expanded = [(k, str(x)) for k, v in fields for x in (v if isinstance(v, list) else [v])]
        if csrf:
            expanded.append(("csrf_token", self.csrf))
        return self.http.post(self.base + path, data=expanded, allow_redirects=False, timeout=20)


def csrf_of(html: str) -> str:
    for pattern in _CSRF:
        if found := pattern.search(html):
            return found.group(1)
    raise AssertionError("no CSRF token on the page")


def field_error(html: str, field: str) -> str:
    """The inline error shown next to ``field`` (the template's ``<p class="field-error" id="FIELD-error">``)."""
    import html as html_lib

    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', html)
    assert found, f"no inline error for {field}"
    return html_lib.unescape(found.group(1))


def audited(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))
