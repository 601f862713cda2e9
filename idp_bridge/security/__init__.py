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


def init_app(app: Flask) -> None:
    """Refuse malformed input before any view runs, and add the security headers to every response."""
    input_gate.init_app(app)
    https = str(settings_of(app).issuer).startswith("https://")

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
