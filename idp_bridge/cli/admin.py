"""`idp-bridge admin …`: console access from the shell — bootstrap and recovery (SPEC §12)."""

from __future__ import annotations

import click

from idp_bridge.admin import admins
from idp_bridge.admin.models import ROLES
from idp_bridge.cli.common import issuer
from idp_bridge.cli.output import CliFailure, emit, json_errors, json_option


def register(cli: click.Group) -> None:
    """Attach ``admin`` to the console script."""

    @cli.group("admin")
    def admin_group() -> None:
        """Manage who may sign in to the web console (/admin/)."""

    @admin_group.command("invite")
    @click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
    @json_option
    @json_errors
    def invite(role: str, as_json: bool) -> None:
        """Print a one-time console sign-in URL (24 h); whoever signs in through it gets ROLE."""
        token, row = admins.create_invite(role)
        url = admins.invite_url(issuer(), token)
        emit({"url": url, "role": role, "expires_at": row.expires_at.isoformat()}, as_json,
             f"{url}\n\nOne-time {role} invite, valid until {row.expires_at.isoformat()}. "
             "Open it and sign in with WeChat.")

    @admin_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List console admins and viewers (revoked ones included)."""
        items = [a.describe() for a in admins.list_admins()]
        if as_json:
            emit({"admins": items}, True)
            return
        for item in items:
            state = f"revoked {item['revoked_at']}" if item["revoked_at"] else "active"
            click.echo(f"{item['sub']}  {item['role']:<7} {state}")
        if not items:
            click.echo("No admins yet: create the first with `idp-bridge admin invite`.")

    @admin_group.command("revoke")
    @click.argument("sub")
    @json_option
    @json_errors
    def revoke(sub: str, as_json: bool) -> None:
        """Remove SUB's console access and end their console sessions now."""
        if admins.revoke(sub) is None:
            raise CliFailure(f"no active admin '{sub}'")
        emit({"revoked": sub}, as_json, f"Revoked console access of {sub}.")
