"""The OpenID Connect provider: Authlib server, keys, endpoints and the login seam."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Bind the authorization server and register the provider's endpoints on ``app``."""
    from idp_bridge.oidc.server import init_server
    from idp_bridge.oidc.views import bp
    from idp_bridge.security import csrf

    csrf.init_app(app)
    init_server(app)
    app.register_blueprint(bp)
