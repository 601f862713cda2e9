"""The application factory (DESIGN example 1): config → extensions → features → error handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp_bridge import health
from idp_bridge.config import Settings, load_settings
from idp_bridge.errors import register_error_handlers
from idp_bridge.extensions import db
from idp_bridge.logging_setup import configure_logging
from idp_bridge.resources import templates_dir


def _load_models() -> None:
    """Import every model module so that metadata (and Alembic) sees all tables."""
    from idp_bridge import audit as _audit  # noqa: F401
    from idp_bridge import ratelimit as _ratelimit  # noqa: F401
    from idp_bridge.accounts import models as _accounts  # noqa: F401
    from idp_bridge.admin import models as _admin  # noqa: F401
    from idp_bridge.cache import hooks as _cache_hooks  # noqa: F401  (installs the version-bump hooks)
    from idp_bridge.events import models as _events  # noqa: F401
    from idp_bridge.login import models as _login  # noqa: F401
    from idp_bridge.oidc import keystore as _keystore  # noqa: F401
    from idp_bridge.oidc import models as _oidc  # noqa: F401
    from idp_bridge.wechat import models as _wechat  # noqa: F401


def init_extensions(app: Flask, migrations: bool = True) -> None:
    _load_models()
    db.init_app(app)
    if migrations:
        from idp_bridge import schema

        schema.init_app(app)


def register_features(app: Flask, settings: Settings) -> None:
    """Each feature package wires its own blueprints and hooks through ``init_app``."""
    from idp_bridge import apps, events, login, metrics, oidc, security
    from idp_bridge.wechat import callback

    security.init_app(app)
    metrics.init_app(app)
    health.init_app(app)
    oidc.init_app(app)
    events.init_app(app)
    callback.init_app(app)
    login.init_app(app)
    apps.init_app(app)
    if settings.admin:
        from idp_bridge import admin

        admin.init_app(app)
    if settings.simulator:
        from idp_bridge import simulator

        simulator.init_app(app)


def create_app(config: Mapping[str, Any] | None = None, *, migrations: bool = True) -> Flask:
    """Build the app from the environment, with ``config`` (lower-case setting names) on top.
    ``migrations=False``: without the ``db`` commands (Flask-Migrate), for a serving worker, which never
    migrates and so does not carry Alembic in its memory."""
    settings = load_settings(overrides=config)
    app = Flask(
        "idp_bridge",
        template_folder=str(templates_dir()),
        instance_path=str(settings.instance_dir),
        static_folder="static",
        static_url_path="/static",
    )
    app.config.update(settings.as_flask_config())
    if settings.trust_proxy:
        # X-Forwarded-* only from the configured number of proxies: clients can forge them (RFC 7239 §8.3)
        n = settings.trust_proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    configure_logging(app, settings)
    init_extensions(app, migrations)
    register_features(app, settings)
    register_error_handlers(app)
    return app
