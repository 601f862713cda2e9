"""Build a push exactly as WeChat's server would send it: XML, query string and body, signed and encrypted.

The bridge never sends pushes; the simulator and the tests do, and both must agree with the callback on
every detail, so there is one implementation — here, next to the simulator, so that no production module
can reach for it (WeChat docs "接收事件推送" / "消息加解密说明"; ``shared/wechat/PROTOCOL.md``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from idp_bridge.wechat import crypto, messages
from idp_bridge.wechat.messages import cdata


@dataclass(frozen=True)
class Push:
    """Query parameters and raw body of one POST to a connection's server URL."""

    params: dict[str, str]
    body: bytes


def render_text_message(to_user: str, from_user: str, content: str, create_time: int, msg_id: int) -> str:
    """A chat text as WeChat pushes it."""
    return messages.render_text_reply(to_user, from_user, content, create_time).replace(
        "</xml>", f"<MsgId>{int(msg_id)}</MsgId></xml>")


def render_event_xml(
    to_user: str,
    from_user: str,
    create_time: int,
    event: str,
    event_key: str | None = None,
    ticket: str | None = None,
) -> str:
    """An event push as WeChat sends it."""
    parts = [
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>",
        f"<CreateTime>{int(create_time)}</CreateTime><MsgType><![CDATA[event]]></MsgType>",
        f"<Event>{cdata(event)}</Event>",
    ]
    if event_key is not None:
        parts.append(f"<EventKey>{cdata(event_key)}</EventKey>")
    if ticket is not None:
        parts.append(f"<Ticket>{cdata(ticket)}</Ticket>")
    parts.append("</xml>")
    return "".join(parts)


def render_push_body(mode: str, plaintext_xml: str, encrypt_b64: str | None, to_user: str) -> str:
    """The POST body for a push in ``plaintext``, ``compatible`` (both copies) or ``safe`` mode."""
    if mode == "plaintext":
        return plaintext_xml
    if encrypt_b64 is None:
        raise ValueError(f"{mode} mode needs the encrypted message")
    if mode == "safe":
        return f"<xml><ToUserName>{cdata(to_user)}</ToUserName><Encrypt>{cdata(encrypt_b64)}</Encrypt></xml>"
    if mode == "compatible":
        if not plaintext_xml.rstrip().endswith("</xml>"):
            raise ValueError("plaintext must be an <xml> document")
        return plaintext_xml.rstrip()[: -len("</xml>")] + f"<Encrypt>{cdata(encrypt_b64)}</Encrypt></xml>"
    raise ValueError(f"unknown mode {mode!r}")


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
    return Push(params, render_push_body(mode, plaintext_xml, encrypted, to_user).encode())


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
