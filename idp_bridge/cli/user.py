"""`idp-bridge user …`: people known to the bridge (SPEC §4)."""

from __future__ import annotations

import click

from idp_bridge.accounts import admin
from idp_bridge.cli.common import invalid_input, loader
from idp_bridge.cli.output import emit, json_errors, json_option

_load = loader(admin.get_user, "user")


def register(cli: click.Group) -> None:
    """Attach ``user`` to the console script."""

    @cli.group("user")
    def user_group() -> None:
        """Manage users and their WeChat identities."""

    @user_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List users."""
        items = [admin.describe(u) for u in admin.list_users()]
        if as_json:
            emit({"users": items}, True)
            return
        for item in items:
            flag = " (blocked)" if item["blocked"] else ""
            click.echo(f"{item['sub']}  {item['name'] or '-'}{flag}  {len(item['identities'])} identities")

    @user_group.command("show")
    @click.argument("sub")
    @json_option
    @json_errors
    def show(sub: str, as_json: bool) -> None:
        """Show a user and their identities."""
        emit(admin.describe(_load(sub)), as_json)

    @user_group.command("create")
    @click.option("--name")
    @click.option("--openid")
    @click.option("--connection")
    @click.option("--unionid")
    @json_option
    @json_errors
    def create(name: str | None, openid: str | None, connection: str | None, unionid: str | None,
               as_json: bool) -> None:
        """Pre-provision a user (login-only connections admit only known users)."""
        with invalid_input():
            user = admin.create_user(name, openid, connection, unionid)
        emit(admin.describe(user), as_json)

    for verb, blocked in (("block", True), ("unblock", False)):

        @user_group.command(verb)
        @click.argument("sub")
        @json_option
        @json_errors
        def toggle(sub: str, as_json: bool, _blocked: bool = blocked) -> None:
            """Block (sign out everywhere and refuse logins) or unblock a user."""
            user = _load(sub)
            admin.set_blocked(user, _blocked)
            emit({"sub": sub, "blocked": _blocked}, as_json)

    @user_group.command("delete")
    @click.argument("sub")
    @json_option
    @json_errors
    def delete(sub: str, as_json: bool) -> None:
        """Delete a user, their identities and tokens."""
        admin.delete_user(_load(sub))
        emit({"deleted": sub}, as_json, f"Deleted user {sub}.")

    @user_group.command("invite")
    @click.argument("sub")
    @json_option
    @json_errors
    def invite(sub: str, as_json: bool) -> None:
        """Create a one-time binding code for this user (connections with association=binding)."""
        code, row = admin.invite(_load(sub))
        emit({"sub": sub, "binding_code": code, "expires_at": row.expires_at.isoformat()}, as_json)
