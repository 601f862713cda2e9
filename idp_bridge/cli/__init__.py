"""The ``idp-bridge`` console script: a Flask CLI group bound to the app factory (SPEC §2).

Flask-Migrate's ``db`` group arrives through Flask's plugin entry points, so ``idp-bridge db upgrade``
works without code here.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from idp_bridge.app import create_app
from idp_bridge.config import ConfigError


def _factory() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


cli = FlaskGroup(
    name="idp-bridge",
    create_app=_factory,
    add_default_commands=True,
    load_dotenv=True,
    help="idp-bridge: OpenID Connect provider with WeChat Official Account follow login.",
)


def _register() -> None:
    from idp_bridge.cli import audit, client, connection, demo, keys, purge, serve, user

    for module in (connection, client, user, keys, audit, purge, demo, serve):
        module.register(cli)


_register()


def main() -> None:
    cli.main(prog_name="idp-bridge")
