"""`idp-bridge connection …`: wire WeChat service accounts to the bridge (SPEC §4)."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app

from idp_bridge.cli.common import invalid_input, issuer, loader
from idp_bridge.cli.output import CliInvalid, emit, json_errors, json_option
from idp_bridge.cli.secret_input import file_options, resolve
from idp_bridge.events import policy
from idp_bridge.wechat import connections, reach
from idp_bridge.wechat import options as connection_options


def _secret_key() -> str:
    return str(current_app.config["SECRET_KEY"])


_load = loader(connections.get_connection, "connection")
SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")


def _common_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--display-name", help="Name shown on the login page."),
            click.option("--app-id", help="AppID (wx + 16 hex characters)."),
            click.option("--app-secret", help="AppSecret from the WeChat console; '-' reads standard input."),
            click.option("--token", help="Server configuration Token (3-32 letters or digits); '-' reads stdin."),
            click.option("--encoding-aes-key", help="EncodingAESKey (43 characters); '-' reads standard input."),
            click.option("--encryption", type=click.Choice(connections.ENCRYPTION_MODES)),
            click.option("--association", type=click.Choice(connections.ASSOCIATIONS)),
            click.option("--reply-text", help="Passive reply after the scan; {app} and {time} are filled in; "
                                              "empty for none. Default names the application and time."),
            click.option("--scene-prefix", help="Prefix of this connection's QR scenes (mode 2 routing)."),
            click.option("--account-type", type=click.Choice(reach.ACCOUNT_TYPES),
                         help="service (default) or subscription: a subscription account signs in by code only "
                              "and never creates parametric QR codes."),
            click.option("--account-qr-url", help="https URL of the account's ordinary QR image, shown beside the "
                                                  "sign-in code; empty to remove."),
        ]
    ):
        func = option(func)
    return file_options(*SECRET_FIELDS)(func)


def _reach_options(func: Any) -> Any:
    """On/off switches of SPEC §13 (create and update share them; unset = unchanged)."""
    for option in reversed([
        click.option("--code-login/--no-code-login", default=None,
                     help="Offer send-a-code: the page shows a code the person sends to the account."),
        click.option("--web-auth/--no-web-auth", default=None,
                     help="Inside WeChat's browser, sign in by web authorization (snsapi_base) without a QR."),
        click.option("--require-follow/--no-require-follow", default=None,
                     help="With --web-auth: a person who does not follow the account is shown the QR to follow."),
    ]):
        func = option(func)
    return func


def _pop_extra(options: dict[str, Any]) -> dict[str, Any]:
    """The reach and event options (``wechat/options.py``, shared with the console), checked before writing."""
    return {name: options.pop(name, None) for name in connection_options.FIELDS}


def _event_options(func: Any) -> Any:
    """SPEC §14: what an unfollow does, and pass-through (unset = unchanged; a new connection keeps, no
    forwarding)."""
    func = click.option("--forward-url", default=None,
                        help="Pass every push the bridge does not consume on to this backend, re-signed as WeChat "
                             "would send it (mode 1 with pass-through); '' stops forwarding.")(func)
    return click.option("--on-unsubscribe", type=click.Choice(policy.POLICIES), default=None,
                        help="On unfollow: keep (default), revoke (end the sessions and refresh tokens obtained "
                             "through this connection) or block the user.")(func)


def _described(connection: Any) -> dict[str, Any]:
    return {**connections.describe(issuer(), connection), **connection_options.describe(connection)}


def register(cli: click.Group) -> None:
    """Attach ``connection`` to the console script."""

    @cli.group("connection")
    def connection_group() -> None:
        """Manage connections (WeChat service accounts)."""

    @connection_group.command("create")
    @click.option("--identifier", required=True, help="Lowercase letters, digits and '-', 1-31 characters.")
    @_common_options
    @click.option("--login-only", is_flag=True, help="Refuse WeChat users who are not pre-provisioned.")
    @click.option("--confirm-in-wechat", is_flag=True,
                  help="After the scan, the user replies the code shown on the page in the chat to finish.")
    @_reach_options
    @_event_options
    @json_option
    @json_errors
    def create(identifier: str, login_only: bool, confirm_in_wechat: bool, as_json: bool, **options: Any) -> None:
        """Create a connection and print the callback URL for the WeChat console.

        Secrets can stay off the command line: --app-secret - reads standard input, --app-secret-file PATH a
        file (the same for --token and --encoding-aes-key)."""
        resolve(options, SECRET_FIELDS)
        extra = _pop_extra(options)
        for required in ("display_name", "app_id", "app_secret", "token", "encryption"):
            if options.get(required) is None:
                raise CliInvalid(required, "is required")
        with invalid_input():
            connection_options.validate(None, extra)
            connection = connections.create_connection(
                _secret_key(),
                identifier=identifier,
                display_name=options["display_name"],
                app_id=options["app_id"],
                app_secret=options["app_secret"],
                token=options["token"],
                encryption=options["encryption"],
                encoding_aes_key=options["encoding_aes_key"],
                login_only=login_only,
                association=options["association"] or "none",
                reply_text=options["reply_text"],
                scene_prefix=options["scene_prefix"],
                confirm_in_wechat=confirm_in_wechat,
            )
        connection_options.save(connection, extra)
        described = _described(connection)
        emit(described, as_json, None if as_json else
             f"Created connection '{identifier}'.\nPaste this server URL into the WeChat console "
             f"(Settings → Basic configuration):\n  {described['callback_url']}")

    @connection_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List connections (secrets are never shown)."""
        items = [connections.describe(issuer(), c) for c in connections.list_connections()]
        if as_json:
            emit({"connections": items}, True)
            return
        if not items:
            click.echo("No connections yet: create one with `idp-bridge connection create`.")
        for item in items:
            click.echo(f"{item['identifier']:<32} {item['app_id']}  {item['encryption']:<10} {item['display_name']}")

    @connection_group.command("show")
    @click.argument("identifier")
    @json_option
    @json_errors
    def show(identifier: str, as_json: bool) -> None:
        """Show one connection (secrets are never shown)."""
        emit(_described(_load(identifier)), as_json)

    @connection_group.command("update")
    @click.argument("identifier")
    @_common_options
    @click.option("--login-only/--no-login-only", default=None)
    @click.option("--confirm-in-wechat/--no-confirm-in-wechat", default=None)
    @click.option("--drop-previous-aes-key", is_flag=True, help="Finish a key change: forget the previous key.")
    @_reach_options
    @_event_options
    @json_option
    @json_errors
    def update(identifier: str, as_json: bool, **options: Any) -> None:
        """Change a connection; a new --encoding-aes-key keeps the old one as previous until dropped.

        Secrets can come from standard input ('-') or --…-file PATH, as for create."""
        resolve(options, SECRET_FIELDS)
        extra = _pop_extra(options)
        connection = _load(identifier)
        with invalid_input():
            connection_options.validate(connection, extra)
            connections.update_connection(_secret_key(), connection, **options)
        connection_options.save(connection, extra)
        emit(_described(connection), as_json)

    @connection_group.command("delete")
    @click.argument("identifier")
    @json_option
    @json_errors
    def delete(identifier: str, as_json: bool) -> None:
        """Delete a connection and the identities made through it."""
        connections.delete_connection(_load(identifier))
        emit({"deleted": identifier}, as_json, f"Deleted connection '{identifier}'.")
