"""Glue between the app and the WeChat client: build a client for a connection from the app's settings."""

from __future__ import annotations

from flask import current_app

from idp_bridge import signals
from idp_bridge.config import current_settings
from idp_bridge.wechat.client import WeChatClient
from idp_bridge.wechat.connections import connection_secrets
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.token_cache import DatabaseTokenCache

_SESSION_KEY = "idp_bridge.wechat_http"


def client_for(connection: Connection) -> WeChatClient:
    """A client for ``connection`` sharing the app's HTTP connection pool and the database token cache."""
    import requests

    session = current_app.extensions.get(_SESSION_KEY)
    if session is None:
        session = current_app.extensions[_SESSION_KEY] = requests.Session()
    secret_key = current_app.config["SECRET_KEY"]
    secrets_ = connection_secrets(secret_key, connection)
    return WeChatClient(current_settings().wechat_api_base, connection.app_id, secrets_.app_secret,
                        DatabaseTokenCache(secret_key), session=session, on_call=_announce_call)


def _announce_call(endpoint: str, errcode: int) -> None:
    signals.wechat_api_called.send(None, endpoint=endpoint, errcode=errcode)
