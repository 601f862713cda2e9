"""One door to the WeChat API (DESIGN example 7): injected session, timeouts, typed results, the token added
by one shared cache, errcodes mapped to typed errors, one retry on an invalid token and on ``-1``.

No Flask here: the token cache and the settings are passed in (see ``service.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from idp_bridge.wechat.errors import WeChatBusy, WeChatTokenInvalid, WeChatUnavailable, error_for

log = logging.getLogger(__name__)
_SCENE = re.compile(r"[\x21-\x7e]{1,64}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
OAUTH_TIMEOUT = (3.05, 4.0)


@dataclass(frozen=True)
class QrCode:
    """A temporary parametric QR code: render ``url`` as the QR image."""

    ticket: str
    url: str
    expire_seconds: int


@dataclass(frozen=True)
class UserInfo:
    """What ``user/info`` still tells since 2021: follow state, openid and (if bound) unionid."""

    openid: str
    subscribe: bool
    unionid: str | None


class TokenCache(Protocol):
    """Where access tokens are shared between workers (``token_cache.py``)."""

    def get(self, app_id: str, fetch: Callable[[bool], tuple[str, int]], force_refresh: bool = False) -> str: ...


class WeChatClient:
    """The WeChat API calls the bridge makes, for one service account."""

    def __init__(self, api_base: str, app_id: str, app_secret: str, token_cache: TokenCache,
                 session: requests.Session | None = None, timeout: tuple[float, float] = (3.05, 5.0),
                 on_call: Callable[[str, int], None] | None = None) -> None:
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._cache = token_cache
        self._session = session or requests.Session()
        self._timeout = timeout
        self._on_call = on_call

    def __repr__(self) -> str:
        return f"WeChatClient(app_id={self.app_id!r})"

    # --- raw calls ---------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
              json: dict[str, Any] | None = None, timeout: tuple[float, float] | float | None = None) -> dict[str, Any]:
        endpoint = path.rsplit("/", 1)[-1]
        try:
            response = self._session.request(method, self.api_base + path, params=params, json=json,
                                             timeout=timeout or self._timeout)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            self._record(endpoint, -2)
            raise WeChatUnavailable(None, type(exc).__name__) from None
        if not isinstance(body, dict):
            self._record(endpoint, -2)
            raise WeChatUnavailable(None, "answer is not a JSON object")
        errcode = body.get("errcode", 0)
        self._record(endpoint, int(errcode) if isinstance(errcode, int) else -2)
        if errcode:
            raise error_for(int(errcode), str(body.get("errmsg", "")))
        return body

    def _record(self, endpoint: str, errcode: int) -> None:
        if self._on_call is not None:
            self._on_call(endpoint, errcode)

    def fetch_stable_token(self, force_refresh: bool = False) -> tuple[str, int]:
        """``cgi-bin/stable_token``: the same token while valid, shared safely by every caller."""
        body = self._send("POST", "/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": self.app_id, "secret": self._secret,
            "force_refresh": force_refresh})
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or len(token) > 512 or not isinstance(expires_in, int):
            raise WeChatUnavailable(None, "stable_token answer without access_token/expires_in")
        return token, expires_in

    def _with_token(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    json: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Add the shared token; refresh once on an invalid token, retry once when WeChat is busy."""
        force = busy_retried = False
        while True:
            token = self._cache.get(self.app_id, self.fetch_stable_token, force_refresh=force)
            try:
                return self._send(method, path, params={**(params or {}), "access_token": token}, json=json,
                                  timeout=timeout)
            except WeChatTokenInvalid:
                if force:
                    raise
                log.warning("WeChat rejected the access token of %s; refreshing once", self.app_id)
                force = True
            except WeChatBusy:
                if busy_retried:
                    raise
                log.info("WeChat busy (-1) for %s; retrying once", self.app_id)
                busy_retried = True

    # --- the calls we use ------------------------------------------------------------------------------
    def create_qrcode(self, scene_str: str, expire_seconds: int) -> QrCode:
        """A temporary ``QR_STR_SCENE`` code; ``expire_seconds`` is always sent (defaults differ)."""
        if not _SCENE.fullmatch(scene_str):
            raise ValueError("scene_str must be 1-64 printable ASCII characters")
        if not 60 <= expire_seconds <= 2592000:
            raise ValueError("expire_seconds must be between 60 and 2592000")
        body = self._with_token("POST", "/cgi-bin/qrcode/create", json={
            "expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene_str}}})
        ticket, url = body.get("ticket"), body.get("url")
        if not isinstance(ticket, str) or not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise WeChatUnavailable(None, "qrcode/create answer without ticket/url")
        return QrCode(ticket, url, int(body.get("expire_seconds") or expire_seconds))

    def user_info(self, openid: str, timeout: float | None = None) -> UserInfo:
        """``user/info``: follow state and unionid (present only when the account is bound to Open Platform)."""
        body = self._with_token("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"},
                                timeout=timeout)
        unionid = body.get("unionid")
        return UserInfo(openid=str(body.get("openid") or openid), subscribe=bool(body.get("subscribe")),
                        unionid=unionid if isinstance(unionid, str) and unionid else None)

    def oauth_openid(self, code: str) -> str:
        """``sns/oauth2/access_token``: the openid behind a web-authorization ``code`` (``snsapi_base``, SPEC
        §13). Authenticated by the AppSecret, not by the shared access token; the web access token it returns
        is never used or kept."""
        if not code or len(code) > 128 or not code.isascii() or not code.isprintable():
            raise ValueError("code must be 1-128 printable ASCII characters")
        body = self._send("GET", "/sns/oauth2/access_token", params={
            "appid": self.app_id, "secret": self._secret, "code": code, "grant_type": "authorization_code"},
            timeout=OAUTH_TIMEOUT)
        openid = body.get("openid")
        if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
            raise WeChatUnavailable(None, "sns/oauth2/access_token answer without a valid openid")
        return openid
