"""The ``idp-bridge`` console script: a Flask CLI group bound to the app factory (SPEC §2).

Flask-Migrate's ``db`` group arrives through Flask's plugin entry points, so ``idp-bridge db upgrade``
works without code here.
"""

from __future__ import annotations

import getpass
import json
import os

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


class AdminGroup(FlaskGroup):
    """The console script's group; refuses a NUL byte in any argument before a command runs.

    PostgreSQL text cannot hold NUL (psycopg raises ``DataError``), and no identifier, name or secret of ours
    contains one, so such an argument is invalid input: exit 2 (SPEC §4), the same on both databases.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any("\x00" in arg for arg in args):
            message = "argument: must not contain a NUL character"
            if "--json" in args:
                click.echo(json.dumps({"error": message, "field": "argument", "rule": "must not contain a NUL "
                                                                                       "character"}))
            else:
                click.echo(f"Error: {message}", err=True)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        """Every administrative action run from the shell is audited as ``cli:<os user>`` (SPEC §12)."""
        from idp_bridge import audit

        with audit.acting_as(f"cli:{_os_user()}"):
            return super().invoke(ctx)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


cli = AdminGroup(
    name="idp-bridge",
    create_app=_factory,
    add_default_commands=True,
    load_dotenv=True,
    help="idp-bridge: OpenID Connect provider with WeChat Official Account follow login.",
)


def _register() -> None:
    from idp_bridge.cli import admin, audit, client, connection, demo, keys, purge, serve, user

    for module in (connection, client, user, keys, audit, purge, demo, serve, admin):
        module.register(cli)
    from idp_bridge.cli import webhook  # SPEC §14

    webhook.register(cli)


_register()


def main() -> None:
    cli.main(prog_name="idp-bridge")
