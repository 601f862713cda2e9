"""`idp-bridge client …`: register applications (OIDC clients) (SPEC §4)."""

from __future__ import annotations

from typing import Any

import click

from idp_bridge.cli.common import invalid_input, issuer, loader
from idp_bridge.cli.output import emit, json_errors, json_option
from idp_bridge.events import backchannel
from idp_bridge.oidc import registration

_load = loader(registration.get_client, "client")


def register(cli: click.Group) -> None:
    """Attach ``client`` to the console script."""

    @cli.group("client")
    def client_group() -> None:
        """Manage applications (OIDC clients)."""

    @client_group.command("create")
    @click.option("--name", required=True)
    @click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
    @click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
    @click.option("--web-origin", "web_origins", multiple=True, help="Origin allowed for CORS and web_message.")
    @click.option("--public", is_flag=True, help="Browser or native app without a secret (PKCE required).")
    @click.option("--third-party", is_flag=True, help="Show a consent screen.")
    @click.option("--connection", "connections", multiple=True, help="Restrict to these connections.")
    @click.option("--try-page", is_flag=True, help="Enable /apps/<client_id>/try.")
    @click.option("--id-token-alg", type=click.Choice(registration.ALGS), default="RS256")
    @click.option("--resource-server/--no-resource-server", default=False,
                  help="May introspect tokens issued to other applications (an API).")
    @click.option("--backchannel-logout-uri", help="Receives OIDC Back-Channel Logout tokens.")
    @json_option
    @json_errors
    def create(name: str, redirect_uris: tuple[str, ...], logout_uris: tuple[str, ...],
               web_origins: tuple[str, ...], public: bool, third_party: bool, connections: tuple[str, ...],
               try_page: bool, id_token_alg: str, resource_server: bool, backchannel_logout_uri: str | None,
               as_json: bool) -> None:
        """Register an application; the secret is printed once."""
        with invalid_input():
            if backchannel_logout_uri is not None:
                backchannel.check_uri(backchannel_logout_uri)
            client, secret = registration.create_client(
                name, redirect_uris, post_logout_redirect_uris=logout_uris, web_origins=web_origins,
                public=public, third_party=third_party, connections=connections, try_page=try_page,
                id_token_alg=id_token_alg, resource_server=resource_server)
        body: dict[str, Any] = client.describe()
        if backchannel_logout_uri:
            backchannel.set_uri(client.client_id, backchannel_logout_uri)
            body["backchannel_logout_uri"] = backchannel_logout_uri
        if secret:
            body["client_secret"] = secret
        body["discovery"] = f"{issuer()}/.well-known/openid-configuration"
        emit(body, as_json)
        if secret and not as_json:
            click.echo("\nStore the client_secret now: it is not shown again.")

    @client_group.command("list")
    @json_option
    @json_errors
    def list_(as_json: bool) -> None:
        """List applications."""
        items = [c.describe() for c in registration.list_clients()]
        if as_json:
            emit({"clients": items}, True)
            return
        for item in items:
            click.echo(f"{item['client_id']}  {item['type']:<12} {item['name']}")
        if not items:
            click.echo("No applications yet: register one with `idp-bridge client create`.")

    @client_group.command("show")
    @click.argument("client_id")
    @json_option
    @json_errors
    def show(client_id: str, as_json: bool) -> None:
        """Show one application (never its secret)."""
        emit(_load(client_id).describe(), as_json)

    @client_group.command("update")
    @click.argument("client_id")
    @click.option("--name")
    @click.option("--redirect-uri", "redirect_uris", multiple=True, help="Replaces the list.")
    @click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Replaces the list.")
    @click.option("--web-origin", "web_origins", multiple=True, help="Replaces the list.")
    @click.option("--connection", "connections", multiple=True, help="Replaces the list.")
    @click.option("--third-party/--first-party", default=None)
    @click.option("--try-page/--no-try-page", default=None)
    @click.option("--id-token-alg", type=click.Choice(registration.ALGS))
    @click.option("--resource-server/--no-resource-server", default=None,
                  help="May introspect tokens issued to other applications.")
    @click.option("--backchannel-logout-uri", help="Receives OIDC Back-Channel Logout tokens ('' removes it).")
    @json_option
    @json_errors
    def update(client_id: str, name: str | None, redirect_uris: tuple[str, ...], logout_uris: tuple[str, ...],
               web_origins: tuple[str, ...], connections: tuple[str, ...], third_party: bool | None,
               try_page: bool | None, id_token_alg: str | None, resource_server: bool | None,
               backchannel_logout_uri: str | None, as_json: bool) -> None:
        """Change an application; list options replace the stored list."""
        client = _load(client_id)
        with invalid_input():
            if backchannel_logout_uri:
                backchannel.check_uri(backchannel_logout_uri)
            registration.update_client(
                client, name=name, redirect_uris=list(redirect_uris) or None,
                post_logout_redirect_uris=list(logout_uris) or None, web_origins=list(web_origins) or None,
                connections=list(connections) or None, third_party=third_party, try_page=try_page,
                id_token_alg=id_token_alg, resource_server=resource_server)
        body = client.describe()
        if backchannel_logout_uri is not None:
            backchannel.set_uri(client.client_id, backchannel_logout_uri)
        body["backchannel_logout_uri"] = backchannel.uri_of(client.client_id)
        emit(body, as_json)

    @client_group.command("rotate-secret")
    @click.argument("client_id")
    @json_option
    @json_errors
    def rotate_secret(client_id: str, as_json: bool) -> None:
        """Issue a new secret; the old one stops working at once."""
        client = _load(client_id)
        with invalid_input():
            secret = registration.rotate_secret(client)
        emit({"client_id": client.client_id, "client_secret": secret}, as_json)

    @client_group.command("delete")
    @click.argument("client_id")
    @json_option
    @json_errors
    def delete(client_id: str, as_json: bool) -> None:
        """Delete an application."""
        registration.delete_client(_load(client_id))
        emit({"deleted": client_id}, as_json, f"Deleted application {client_id}.")
