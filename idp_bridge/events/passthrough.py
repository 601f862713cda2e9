"""Pass-through (SPEC §14, "mode 1 with pass-through"): a push the bridge does not consume — anything but a
login event of the connection's scene prefix or a login text — is forwarded to the operator's existing
backend *as WeChat would send it*: fresh ``timestamp``/``nonce``/``signature`` (and ``msg_signature`` over a
freshly encrypted copy) computed with the connection's Token, encryption mode and key, so that an unchanged
WeChat SDK accepts it (WeChat docs "消息加解密说明"). The backend's answer (a passive reply, encrypted or not)
goes back to WeChat byte for byte. WeChat waits 5 s: the forward gives up after ~4 s and answers
``success``. Login pushes never reach this module, so nothing on the login path waits for the backend.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Protocol
from urllib.parse import urlsplit

import requests
from flask import Response, request
from prometheus_client import Counter

from idp_bridge.events.policy import forward_url
from idp_bridge.wechat import crypto, inbound, messages
from idp_bridge.wechat.connections import ConnectionSecrets

log = logging.getLogger(__name__)
CONNECT_TIMEOUT, READ_TIMEOUT = 1.0, 3.0  # ≤ 4 s before we answer WeChat ourselves
MAX_REPLY_BYTES = messages.MAX_BODY_BYTES
PASSTHROUGH = Counter("idpb_passthrough_total", "Pushes passed through to the operator's backend, by outcome",
                      ["connection", "outcome"])


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class Target(Protocol):
    """What forwarding needs of a connection (the ORM row or the callback's cached snapshot)."""

    @property
    def id(self) -> int: ...
    @property
    def identifier(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def encryption(self) -> str: ...


def plaintext_xml(body: bytes, aes_key: str | None, app_id: str) -> str:
    """The push's XML as WeChat composed it (decrypted again with the key that verified it)."""
    if aes_key is None:
        return body.decode("utf-8")
    return crypto.decrypt(messages.parse_xml(body)["Encrypt"], aes_key, app_id)


def forwarded_request(connection: Target, token: str, aes_key: str | None, xml: str,
                      message: messages.Message) -> tuple[dict[str, str], bytes]:
    """Query parameters and body of the forwarded push, signed anew like WeChat signs a push."""
    ts, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {"signature": crypto.url_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
              "openid": message.from_user}
    if aes_key is None:
        return params, xml.encode()
    encrypted = crypto.encrypt(xml, aes_key, connection.app_id)
    params.update(encrypt_type="aes", msg_signature=crypto.msg_signature(token, ts, nonce, encrypted))
    if connection.encryption == "compatible":  # both copies, as WeChat sends them in compatible mode
        body = xml.rstrip()[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    else:
        body = f"<xml><ToUserName>{_cdata(message.to_user)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    return params, body.encode()


def forward(connection: Target, secrets_: ConnectionSecrets, verified: inbound.VerifiedPush,
            body: bytes) -> Response | None:
    """Forward an unconsumed push when the connection has a ``forward_url``; the response for WeChat, or
    None when there is nothing to forward to."""
    url = forward_url(connection.id)
    if not url or _is_self(url):
        return None
    outcome = "relayed"
    try:
        xml = verified.xml or plaintext_xml(body, verified.aes_key, connection.app_id)
        params, data = forwarded_request(connection, secrets_.token, verified.aes_key, xml, verified.message)
        with requests.post(url, params=params, data=data, headers={"Content-Type": "text/xml"}, stream=True,
                           timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False) as answer:
            reply = answer.raw.read(MAX_REPLY_BYTES + 1, decode_content=True)
            status = answer.status_code
    except requests.Timeout:
        outcome, status, reply = "timeout", 0, b""
    except (requests.RequestException, ValueError, messages.MalformedMessage, crypto.WeChatCryptoError) as exc:
        log.warning("pass-through on %s failed: %s", connection.identifier, type(exc).__name__)
        outcome, status, reply = "error", 0, b""
    if outcome == "relayed" and (status != 200 or len(reply) > MAX_REPLY_BYTES):
        outcome = "refused" if status != 200 else "too_large"
    PASSTHROUGH.labels(connection.identifier, outcome).inc()
    if outcome != "relayed" or not reply.strip() or reply.strip() == b"success":
        return Response("success", mimetype="text/plain")
    return Response(reply, mimetype="application/xml" if reply.lstrip().startswith(b"<") else "text/plain")


def _is_self(url: str) -> bool:
    """Never forward to our own callback (a loop that would answer WeChat late)."""
    parts = urlsplit(url)
    return parts.netloc == request.host and parts.path.startswith("/connections/social/")
