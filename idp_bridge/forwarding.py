"""Mode 2 (SPEC §10): your own server keeps the WeChat server URL and forwards login events to idp-bridge.

Give :func:`forward` the push exactly as WeChat sent it (raw query string and body). It decides, by the
connection's scene prefix and decrypting when needed, whether the push is a login event; if so it forwards
the *unchanged* request to the bridge, which re-verifies WeChat's own signature, and returns the bridge's
answer for you to send back to WeChat. Anything else returns ``None``: the event stays yours.

Framework-free: it needs only ``requests``.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from idp_bridge.wechat import crypto, messages


@dataclass(frozen=True)
class Forwarded:
    """The bridge's answer, to be returned to WeChat as is."""

    status: int
    body: bytes
    content_type: str


def is_login_event(body: bytes, *, scene_prefix: str, app_id: str, aes_keys: tuple[str, ...] = ()) -> bool:
    """True when the push is a subscribe/SCAN for one of the bridge's login scenes."""
    try:
        fields = messages.parse_xml(body)
        if "Encrypt" in fields and aes_keys:
            plaintext, _ = crypto.decrypt_with_fallback(fields["Encrypt"], list(aes_keys), app_id)
            fields = messages.parse_xml(plaintext.encode())
        return messages.login_scene(messages.parse_message(fields), scene_prefix) is not None
    except (messages.MalformedMessage, crypto.WeChatCryptoError):
        return False


def forward(
    query_string: str,
    body: bytes,
    bridge_url: str,
    *,
    scene_prefix: str,
    app_id: str,
    encoding_aes_key: str | None = None,
    previous_aes_key: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 4.0,
) -> Forwarded | None:
    """Forward a login push to ``bridge_url`` (the connection's callback URL); ``None`` if not a login push.

    ``timeout`` stays under WeChat's 5 s so that your server can still answer in time.
    """
    keys = tuple(k for k in (encoding_aes_key, previous_aes_key) if k)
    if not is_login_event(body, scene_prefix=scene_prefix, app_id=app_id, aes_keys=keys):
        return None
    http = session or requests.Session()
    separator = "&" if "?" in bridge_url else "?"
    response = http.post(bridge_url + (separator + query_string if query_string else ""), data=body,
                         headers={"Content-Type": "text/xml"}, timeout=timeout)
    return Forwarded(response.status_code, response.content, response.headers.get("Content-Type", "text/plain"))
