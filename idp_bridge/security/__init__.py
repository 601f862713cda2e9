"""Cross-cutting web hardening: the input gate before every request (SPEC §15) and security headers on
every response.

The default Content-Security-Policy allows only same-origin scripts and styles (every page uses external
files), forbids framing, and keeps referrers off pages that may carry codes. Views that need more (the
form_post page posting to a client) set their own policy before this runs.
"""

from __future__ import annotations

from flask import Flask, Response

from idp_bridge.config import settings_of
from idp_bridge.security import input_gate

# No form-action here: browsers apply it to the redirects that follow a form POST, and our forms (binding
# code, consent, logout) legitimately end in a redirect to the application's registered URI.
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def default_headers(https: bool) -> tuple[tuple[str, str], ...]:
    """The headers every response carries unless its view set its own (in this order)."""
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Security-Policy", DEFAULT_CSP), ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"))
    if https:
        headers += (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
    return headers


def init_app(app: Flask) -> None:
    """Refuse malformed input before any view runs, and add the security headers to every response."""
    input_gate.init_app(app)
    defaults = tuple((name.lower(), name, value)
                     for name, value in default_headers(str(settings_of(app).issuer).startswith("https://")))

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name in headers.keys()}  # one pass, not one search per default
        headers.extend([(name, value) for lower, name, value in defaults if lower not in present])
        return response
