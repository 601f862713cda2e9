"""The OpenID Connect provider: Authlib server, keys, endpoints and the login seam."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Flask, Response, jsonify


def init_app(app: Flask) -> None:
    """Bind the authorization server and register the provider's endpoints on ``app``."""
    from idp_bridge import signals
    from idp_bridge.oidc.server import init_server
    from idp_bridge.oidc.sso import revoke_everything_of
    from idp_bridge.oidc.views import bp
    from idp_bridge.security import csrf

    csrf.init_app(app)
    init_server(app)
    app.register_blueprint(bp)
    app.register_error_handler(OAuth2Error, _oauth_error)
    signals.user_blocked.connect(revoke_everything_of)


def _oauth_error(error: OAuth2Error) -> Response:
    """An OAuth error raised outside Authlib's own handling (e.g. insecure transport) is a 4xx, never a 500."""
    response = jsonify(error=error.error, error_description=error.description or "")
    response.status_code = error.status_code or 400
    response.headers["Cache-Control"] = "no-store"
    return response
