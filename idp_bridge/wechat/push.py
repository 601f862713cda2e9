"""Build a push exactly as WeChat's server would send it: query string and body, signed and encrypted.

The bridge never sends pushes; the simulator and the tests do, and both must agree with the callback on
every detail, so there is one implementation.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from idp_bridge.wechat import crypto, messages


@dataclass(frozen=True)
class Push:
    """Query parameters and raw body of one POST to a connection's server URL."""

    params: dict[str, str]
    body: bytes


def build_push(
    plaintext_xml: str,
    *,
    token: str,
    mode: str,
    app_id: str,
    openid: str,
    to_user: str,
    encoding_aes_key: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> Push:
    """Sign (and in compatible/safe mode encrypt) ``plaintext_xml`` for delivery to the bridge."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    params = {"signature": crypto.url_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": openid}
    if mode == "plaintext":
        return Push(params, plaintext_xml.encode())
    if not encoding_aes_key:
        raise ValueError(f"{mode} mode needs an EncodingAESKey")
    encrypted = crypto.encrypt(plaintext_xml, encoding_aes_key, app_id)
    params.update(encrypt_type="aes", msg_signature=crypto.msg_signature(token, ts, nonce, encrypted))
    return Push(params, messages.render_push_body(mode, plaintext_xml, encrypted, to_user).encode())


def read_reply(body: bytes, *, token: str, app_id: str, encoding_aes_key: str | None) -> str | None:
    """The text of a passive reply (decrypting an encrypted one after checking its signature), else None."""
    if body in (b"", b"success"):
        return None
    fields = messages.parse_xml(body)
    if "Encrypt" in fields:
        if not encoding_aes_key:
            raise ValueError("encrypted reply but no EncodingAESKey")
        expected = crypto.msg_signature(token, fields.get("TimeStamp", ""), fields.get("Nonce", ""), fields["Encrypt"])
        if not crypto.signatures_equal(expected, fields.get("MsgSignature", "")):
            raise crypto.InvalidSignature("reply signature does not match")
        fields = messages.parse_xml(crypto.decrypt(fields["Encrypt"], encoding_aes_key, app_id).encode())
    return fields.get("Content")
