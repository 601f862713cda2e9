"""Glue between the app and the WeChat client: build a client for a connection from the app's settings."""

from __future__ import annotations

from functools import partial

from flask import current_app

from idp_bridge import signals
from idp_bridge.config import current_settings
from idp_bridge.wechat import api_errors
from idp_bridge.wechat.client import WeChatClient
from idp_bridge.wechat.connection_cache import CachedConnection
from idp_bridge.wechat.connections import connection_secrets
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.token_cache import DatabaseTokenCache

_SESSION_KEY = "idp_bridge.wechat_http"


def client_for(connection: Connection | CachedConnection) -> WeChatClient:
    """A client for ``connection`` sharing the app's HTTP connection pool and the database token cache (a
    cached connection brings its secrets already unsealed)."""
    import requests

    session = current_app.extensions.get(_SESSION_KEY)
    if session is None:
        session = current_app.extensions[_SESSION_KEY] = requests.Session()
    secret_key = current_app.config["SECRET_KEY"]
    if isinstance(connection, CachedConnection):
        secrets_ = connection.secrets
    else:
        secrets_ = connection_secrets(secret_key, connection)
    return WeChatClient(current_settings().wechat_api_base, connection.app_id, secrets_.app_secret,
                        DatabaseTokenCache(secret_key), session=session,
                        on_call=partial(_announce_call, connection.id))


def _announce_call(connection_id: int, endpoint: str, errcode: int) -> None:
    """Every answer feeds the process's metrics; a failure is also counted per connection in the database,
    for the console's overview (``api_errors``)."""
    signals.wechat_api_called.send(None, endpoint=endpoint, errcode=errcode)
    if errcode:
        api_errors.record(connection_id, errcode)
