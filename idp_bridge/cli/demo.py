"""`idp-bridge demo`: the whole product on one laptop — SQLite, the WeChat simulator, a demo connection and
a demo application — in one command (SPEC §2)."""

from __future__ import annotations

import os
import secrets
import string

import click
from flask import Flask

from idp_bridge.config import settings_of

DEMO_CONNECTION = "demo"
DEMO_APP_NAME = "idp-bridge demo"


def _ensure_demo_data(app: Flask) -> str:
    """Create (once) the demo connection and application; returns the application's client_id."""
    from idp_bridge.apps import try_redirect_uri
    from idp_bridge.extensions import db
    from idp_bridge.oidc.models import Client
    from idp_bridge.oidc.registration import create_client, update_client
    from idp_bridge.wechat.connections import create_connection, get_connection

    settings = settings_of(app)
    if get_connection(DEMO_CONNECTION) is None:
        alphabet = string.ascii_letters + string.digits
        create_connection(
            app.config["SECRET_KEY"], identifier=DEMO_CONNECTION, display_name="idp-bridge 演示服务号",
            app_id="wx" + secrets.token_hex(8), app_secret=secrets.token_hex(16),
            token="".join(secrets.choice(alphabet) for _ in range(16)), encryption="safe",
            encoding_aes_key="".join(secrets.choice(alphabet) for _ in range(43)),
            reply_text="欢迎！你已登录 idp-bridge 演示。", scene_prefix="demo_")
    demo_connection = get_connection(DEMO_CONNECTION)
    if demo_connection is not None and not (demo_connection.web_auth and demo_connection.code_login):
        from idp_bridge.wechat import reach

        reach.apply(demo_connection, {"web_auth": True, "code_login": True})  # all three ways (SPEC §13)
    client = db.session.scalar(db.select(Client).where(Client.name == DEMO_APP_NAME))
    if client is None:
        client, _ = create_client(DEMO_APP_NAME, [settings.issuer + "/apps/pending/callback"], public=True,
                                  try_page=True, web_origins=[settings.issuer])
    wanted = try_redirect_uri(settings.issuer, client.client_id)
    if client.redirect_uris != [wanted] or client.web_origins != [settings.issuer]:
        update_client(client, redirect_uris=[wanted], web_origins=[settings.issuer])
    return client.client_id


def demo_overrides(host: str, port: int) -> dict[str, object]:
    overrides: dict[str, object] = {"simulator": True}
    if not os.environ.get("IDP_BRIDGE_ISSUER"):
        overrides["issuer"] = f"http://{host}:{port}"
    return overrides


def _admin_invite(app: Flask) -> str:
    """A one-time console invite (SPEC §12), so a newcomer reaches /admin/ through the simulator."""
    from idp_bridge.admin import admins

    with app.app_context():
        token, _ = admins.create_invite("admin")
    return admins.invite_url(settings_of(app).issuer, token)


def build_demo_app(host: str, port: int) -> tuple[Flask, str]:
    import flask_migrate

    from idp_bridge.app import create_app
    from idp_bridge.extensions import db

    app = create_app(demo_overrides(host, port))
    with app.app_context():
        flask_migrate.upgrade()
        client_id = _ensure_demo_data(app)
        db.engine.dispose()  # the server's worker opens its own connections after the fork
    return app, client_id


def serve_demo(host: str, port: int) -> None:
    """The same gunicorn path as ``serve`` (one worker: the app in 32 threads, status streams on its event
    loop), not a development server."""
    from idp_bridge.app import create_app
    from idp_bridge.serving import GunicornApp, gunicorn_options

    overrides = demo_overrides(host, port)
    GunicornApp(lambda: create_app(overrides), gunicorn_options(f"{host}:{port}", 1, 32)).run()


def register(cli: click.Group) -> None:
    """Attach ``demo`` to the console script."""

    @cli.command("demo", with_appcontext=False)
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
    def demo(host: str, port: int) -> None:
        """Run a self-contained demo: SQLite, WeChat simulator, a demo connection and application."""
        app, client_id = build_demo_app(host, port)
        issuer = settings_of(app).issuer
        click.echo("")
        click.secho("idp-bridge demo is running", bold=True)
        click.echo(f"  Try login:   {issuer}/apps/{client_id}/try")
        if settings_of(app).admin:
            click.echo(f"  Console:     {_admin_invite(app)}  (one-time admin invite, 24 h)")
        click.echo(f"  Discovery:   {issuer}/.well-known/openid-configuration")
        click.echo("  On the login page, open the simulated phone (link under the QR code) and press Follow.")
        click.echo("  Or send the page's sign-in code from the simulated chat, or open the try page with a WeChat")
        click.echo("  user agent (…MicroMessenger/8.0…) to sign in by web authorization: the try page says how.")
        click.echo("  The WeChat simulator is ON: this is a demo, never a production set-up.\n")
        serve_demo(host, port)
