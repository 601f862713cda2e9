"""The development WeChat (SPEC §9): a fake API and a phone page. Never imported by production paths."""

from __future__ import annotations

from flask import Flask

from idp_bridge.config import settings_of
from idp_bridge.simulator.state import SimAccount


def _accounts_from_connections(app: Flask) -> dict[str, SimAccount]:
    """When mounted in the bridge, every connection is a simulated account pushing to its own callback."""
    from idp_bridge.wechat.connections import callback_url, connection_secrets, list_connections

    settings = settings_of(app)
    accounts = {}
    for connection in list_connections():
        secrets_ = connection_secrets(app.config["SECRET_KEY"], connection)
        accounts[connection.app_id] = SimAccount(
            app_id=connection.app_id, app_secret=secrets_.app_secret, token=secrets_.token,
            encryption=connection.encryption, encoding_aes_key=secrets_.encoding_aes_key,
            callback_url=callback_url(settings.issuer, connection), display_name=connection.display_name,
            original_id="gh_" + connection.app_id[2:14])
    return accounts


def init_app(app: Flask) -> None:
    """Mount the simulator at ``/_simulator`` (only when ``IDP_BRIDGE_SIMULATOR=1``)."""
    import logging

    from idp_bridge.simulator.views import install

    install(app, "/_simulator", source=lambda: _accounts_from_connections(app))
    logging.getLogger("idp_bridge").warning("the WeChat simulator is mounted at /_simulator: never in production")
