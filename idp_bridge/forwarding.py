"""Mode 2 (SPEC §10): your own server keeps the WeChat server URL and forwards login events to idp-bridge.

Give :func:`forward` the push exactly as WeChat sent it (raw query string and body). It decides, by the
connection's scene prefix and from the *decrypted* message, whether the push is a login event; if so it
forwards the *unchanged* request to the bridge, which re-verifies WeChat's own signatures, and returns the
bridge's answer for you to send back to WeChat. Anything else returns ``None``: the event stays yours.

Only compatible and safe modes can be forwarded. In plaintext mode WeChat's ``signature`` covers token,
timestamp and nonce but not the body (WeChat docs "接入指南"), so whoever relays a push could pair a genuine
signature with a body of their choosing; in the encrypted modes ``msg_signature`` covers the encrypted body
and the bridge trusts only what it decrypts (SPEC §15 "Push integrity"). Hence :func:`forward` raises
:class:`PlaintextModeUnsupported` without an EncodingAESKey and :class:`NotForwardable` (403) for a push that
arrives unencrypted.

Verification and decryption are the bridge's own (:mod:`idp_bridge.wechat.inbound`); framework-free, it
needs only ``requests``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

import requests

from idp_bridge.login.code_format import normalise
from idp_bridge.wechat import inbound, messages


class NotForwardable(ValueError):
    """This push must not be forwarded; answer the sender with ``status`` (and ``reason`` in your logs)."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class PlaintextModeUnsupported(ValueError):
    """A configuration error, raised before the push is even read: mode 2 needs the connection in compatible
    or safe mode, so give ``encoding_aes_key`` (SPEC §10)."""

    def __init__(self) -> None:
        super().__init__("mode 2 needs a connection in compatible or safe mode (an EncodingAESKey): "
                         "a plaintext push carries no signature over its body")


@dataclass(frozen=True)
class Forwarded:
    """The bridge's answer, to be returned to WeChat as is."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class _Secrets:
    token: str
    keys: tuple[str, ...]

    def aes_keys(self) -> Sequence[str]:
        return self.keys


class _NoReplayMemory:
    """Encrypted modes never consult the replay memory (it is plaintext mode's, SPEC §15)."""

    def remember(self, signature: str, body_digest: str, expires_at: int) -> bool:
        raise AssertionError("plaintext pushes are never forwarded")


def _decrypted_message(body: bytes, aes_keys: Sequence[str], app_id: str) -> messages.Message | None:
    try:
        fields, _ = inbound.decrypt_fields(inbound.parse_fields(body), aes_keys, app_id)
        return inbound.parse_message(fields)
    except inbound.PushRefused:
        return None


def _for_bridge(message: messages.Message | None, scene_prefix: str, code_login: bool) -> bool:
    """A login scan of one of the bridge's scenes, or (``code_login``) a chat text shaped like a sign-in code."""
    if message is None:
        return False
    if code_login and isinstance(message, messages.TextMessage) and normalise(message.content) is not None:
        return True
    return messages.login_scene(message, scene_prefix) is not None


def is_login_event(body: bytes, *, scene_prefix: str, app_id: str, aes_keys: tuple[str, ...] = (),
                   code_login: bool = False) -> bool:
    """True when the *decrypted* push is a subscribe/SCAN for one of the bridge's login scenes, or, for a
    connection with send-a-code (``code_login``, SPEC §13), a chat text shaped like a sign-in code.

    The plaintext copy of a compatible-mode body is ignored, and a body without ``<Encrypt>`` is never a
    login event here: only the encrypted copy is covered by a signature.
    """
    return _for_bridge(_decrypted_message(body, aes_keys, app_id), scene_prefix, code_login)


def forward(
    query_string: str,
    body: bytes,
    bridge_url: str,
    *,
    scene_prefix: str,
    app_id: str,
    encoding_aes_key: str | None = None,
    previous_aes_key: str | None = None,
    token: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 4.0,
    code_login: bool = False,
) -> Forwarded | None:
    """Forward a login push to ``bridge_url`` (the connection's callback URL); ``None`` if not a login push.

    With ``token`` (the connection's Token) the push is fully verified here first — timestamp, ``signature``,
    ``msg_signature`` — and a forgery raises :class:`NotForwardable` without reaching the bridge; without it the
    bridge alone verifies. ``timeout`` stays under WeChat's 5 s so that your server can still answer in time.
    ``code_login`` also forwards chat texts shaped like a sign-in code (connections with send-a-code).
    """
    keys = tuple(k for k in (encoding_aes_key, previous_aes_key) if k)
    if not keys:
        raise PlaintextModeUnsupported()
    params = dict(parse_qsl(query_string, keep_blank_values=True))
    try:
        inbound.require_encrypted(params)
    except inbound.PushRefused as refused:
        raise NotForwardable(refused.reason, refused.status) from None
    if token is None:
        message = _decrypted_message(body, keys, app_id)
    else:
        try:
            message = inbound.verify_push(params, body, _Secrets(token, keys), "safe", app_id, time.time(),
                                          _NoReplayMemory()).message
        except inbound.PushRefused as refused:
            raise NotForwardable(refused.reason, refused.status) from None
    if not _for_bridge(message, scene_prefix, code_login):
        return None
    http = session or requests.Session()
    separator = "&" if "?" in bridge_url else "?"
    response = http.post(bridge_url + (separator + query_string if query_string else ""), data=body,
                         headers={"Content-Type": "text/xml"}, timeout=timeout)
    return Forwarded(response.status_code, response.content, response.headers.get("Content-Type", "text/plain"))
