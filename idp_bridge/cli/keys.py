"""`idp-bridge keys …`: signing keys (SPEC §4)."""

from __future__ import annotations

import click

from idp_bridge.cli.output import emit, json_errors, json_option
from idp_bridge.oidc import keystore


def register(cli: click.Group) -> None:
    """Attach ``keys`` to the console script."""

    @cli.group("keys")
    def keys_group() -> None:
        """Manage ID-token signing keys."""

    @keys_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List keys: active, published (retired, still verifying) and expired."""
        keystore.signing_key("RS256")
        items = [k.describe() for k in keystore.list_keys()]
        if as_json:
            emit({"keys": items}, True)
            return
        for item in items:
            click.echo(f"{item['kid']}  {item['alg']}  {item['state']:<10} created {item['created_at']}")

    @keys_group.command("rotate")
    @click.option("--alg", type=click.Choice(keystore.ALGORITHMS), default="RS256")
    @json_option
    @json_errors
    def rotate(alg: str, as_json: bool) -> None:
        """Sign with a new key from now on; the old one stays in JWKS until its tokens have expired."""
        emit(keystore.rotate(alg).describe(), as_json)
