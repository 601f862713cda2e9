"""Follow login: login sessions, the hosted QR page, status push, and the WeChat event handler."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the login page and handle WeChat login events for ``app``."""
    from idp_bridge.login import oauth_return  # noqa: F401  (adds the web-authorization return route)
    from idp_bridge.login.dispatcher import handle_login_event, handle_text
    from idp_bridge.login.views import bp
    from idp_bridge.wechat.dispatch import set_claiming_login_event_handler, set_text_handler

    app.register_blueprint(bp)
    set_claiming_login_event_handler(app, handle_login_event)
    set_text_handler(app, handle_text)
