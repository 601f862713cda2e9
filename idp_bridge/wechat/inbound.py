"""Verify one WeChat push, framework-free: query + raw body + a connection's secrets → a trusted message.

What WeChat signs (WeChat docs "接入指南" and "消息加解密说明"; ``shared/wechat/PROTOCOL.md``):

* ``signature`` = SHA1(sort(token, timestamp, nonce)) — it covers **no part of the body**;
* ``msg_signature`` = SHA1(sort(token, timestamp, nonce, Encrypt)) — it covers the encrypted body, sent only
  with ``encrypt_type=aes`` (compatible and safe modes).

The rules that follow (SPEC §7.4, §11, §15 "Push integrity"):

* the timestamp is within ±5 minutes and ``signature`` matches, in every mode;
* compatible and safe modes **require** ``encrypt_type=aes`` and a valid ``msg_signature`` and trust only
  the decrypted copy: ``encrypt_type`` is an unsigned parameter, so its absence must not turn a connection
  back into plaintext mode (an observer of one genuine push could otherwise attach any plaintext body);
* plaintext mode cannot tell a rewritten body from the real one, so a (timestamp, nonce, signature) already
  seen within the window with **another** body is refused; the same body again is WeChat's re-delivery and
  goes on to de-duplication.

Refusals are :class:`PushRefused` with the HTTP status to answer (403 forged or replayed, 400 malformed);
they carry short reasons, never a secret. Nothing here touches Flask or the database: the replay memory is
passed in as a :class:`ReplayGuard`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from idp_bridge.wechat import crypto, messages

Mode = Literal["plaintext", "compatible", "safe"]
MODES: tuple[Mode, ...] = ("plaintext", "compatible", "safe")
TIMESTAMP_WINDOW = 300  # seconds either side of our clock (SPEC §7.4)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: \d would accept any Unicode digit
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{40}")
_ECHOSTR = re.compile(r"[\x21-\x7e]{1,256}")


class PushRefused(Exception):
    """A push (or URL verification) we refuse; ``status`` is the HTTP answer, ``reason`` is loggable."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedPush(PushRefused):
    """Missing or malformed parameters, oversize or hostile XML, undecryptable ciphertext (SPEC §11)."""

    status = 400


class ForgedPush(PushRefused):
    """Bad or missing signature, stale timestamp, or a replayed signature with another body (SPEC §15)."""

    status = 403


class PushSecrets(Protocol):
    """What verification needs of a connection's secrets (``connections.ConnectionSecrets`` fits)."""

    @property
    def token(self) -> str: ...

    def aes_keys(self) -> Sequence[str]: ...


class ReplayGuard(Protocol):
    """Memory of the plaintext-mode signatures seen in the window, shared by every worker."""

    def remember(self, signature: str, body_digest: str, expires_at: int) -> bool:
        """Record ``signature`` with ``body_digest`` until ``expires_at`` (Unix time); ``False`` when that
        signature is already remembered with a different body digest."""
        ...


@dataclass(frozen=True)
class SignedQuery:
    """The signed part of a push's query string, checked."""

    timestamp: str
    nonce: str
    signature: str


@dataclass(frozen=True)
class VerifiedPush:
    """A push that passed every check: its message, the XML it was read from (the decrypted copy when
    encrypted: pass-through forwards it without decrypting again) and, when encrypted, the AES key that worked
    (a passive reply must be encrypted with the same key)."""

    message: messages.Message
    aes_key: str | None
    xml: str = ""


def _param(params: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> str:
    value = params.get(name, "")
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedPush(f"missing or malformed '{name}'")
    return value


def check_signature(params: Mapping[str, str], token: str, now: float) -> SignedQuery:
    """``timestamp`` within the window and ``signature`` valid: the check shared by every request WeChat
    sends to the server URL, the GET verification included."""
    query = SignedQuery(_param(params, "timestamp", _TIMESTAMP), _param(params, "nonce", _NONCE),
                        _param(params, "signature", _SIGNATURE).lower())
    if abs(now - int(query.timestamp)) > TIMESTAMP_WINDOW:
        raise ForgedPush("timestamp outside the 5-minute window")
    if not crypto.signatures_equal(crypto.url_signature(token, query.timestamp, query.nonce), query.signature):
        raise ForgedPush("bad signature")
    return query


def verify_url(params: Mapping[str, str], token: str, now: float) -> str:
    """The server URL verification (GET): the ``echostr`` to echo once the signature checks out."""
    check_signature(params, token, now)
    return _param(params, "echostr", _ECHOSTR)


def is_encrypted(params: Mapping[str, str]) -> bool:
    """Whether the query claims an encrypted body; unsigned, so it only ever *adds* checks."""
    return str(params.get("encrypt_type", "")).lower() == "aes"


def require_encrypted(params: Mapping[str, str]) -> str:
    """Compatible/safe modes: ``encrypt_type=aes`` and a well-formed ``msg_signature`` are mandatory (SPEC
    §15), since without them nothing signs the body. Returns the lower-cased ``msg_signature``."""
    if not is_encrypted(params):
        raise ForgedPush("this connection is in an encrypted mode: encrypt_type=aes and msg_signature required")
    given = params.get("msg_signature", "")
    if not isinstance(given, str) or not _SIGNATURE.fullmatch(given):
        raise ForgedPush("missing or malformed 'msg_signature'")
    return given.lower()


def decrypt_fields(fields: Mapping[str, str], aes_keys: Sequence[str], app_id: str) -> tuple[dict[str, str], str]:
    """The decrypted copy of an encrypted push (current key, then the previous one) and the key that worked.

    Does not check ``msg_signature``: callers that have the Token use :func:`verify_push`; the mode-2
    forwarder uses this only to classify a push that the bridge verifies again.
    """
    decrypted, key, _ = _decrypt(fields, aes_keys, app_id)
    return decrypted, key


def _decrypt(fields: Mapping[str, str], aes_keys: Sequence[str], app_id: str) -> tuple[dict[str, str], str, str]:
    encrypt = fields.get("Encrypt", "")
    if not encrypt:
        raise MalformedPush("encrypted push without <Encrypt>")
    if not aes_keys:
        raise MalformedPush("encrypted push but the connection has no EncodingAESKey")
    try:
        plaintext, key = crypto.decrypt_with_fallback(encrypt, list(aes_keys), app_id)
    except crypto.WeChatCryptoError as exc:
        raise MalformedPush(f"cannot decrypt: {type(exc).__name__}") from None
    try:
        return messages.parse_xml(plaintext.encode()), key, plaintext
    except messages.MalformedMessage as exc:
        raise MalformedPush(f"decrypted message: {exc}") from None


def parse_fields(body: bytes) -> dict[str, str]:
    """The body's top-level XML fields (size, DTD and element limits of ``messages.parse_xml``)."""
    try:
        return messages.parse_xml(body)
    except messages.MalformedMessage as exc:
        raise MalformedPush(str(exc)) from None


def parse_message(fields: Mapping[str, str]) -> messages.Message:
    try:
        return messages.parse_message(fields)
    except messages.MalformedMessage as exc:
        raise MalformedPush(str(exc)) from None


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _verify_encrypted(query: SignedQuery, params: Mapping[str, str], fields: Mapping[str, str],
                      secrets: PushSecrets, app_id: str) -> VerifiedPush:
    given = require_encrypted(params)
    encrypt = fields.get("Encrypt", "")
    if not encrypt:
        raise MalformedPush("encrypted push without <Encrypt>")
    expected = crypto.msg_signature(secrets.token, query.timestamp, query.nonce, encrypt)
    if not crypto.signatures_equal(expected, given):
        raise ForgedPush("bad msg_signature")
    decrypted, key, xml = _decrypt(fields, secrets.aes_keys(), app_id)  # compatible: the outer copy is ignored
    return VerifiedPush(parse_message(decrypted), key, xml)


def _verify_plaintext(query: SignedQuery, params: Mapping[str, str], fields: Mapping[str, str], body: bytes,
                      seen: ReplayGuard) -> VerifiedPush:
    if is_encrypted(params):
        raise MalformedPush("encrypted push but the connection has no EncodingAESKey")
    message = parse_message(fields)
    # Last, because it writes: a refusal for any other reason must leave nothing behind (SPEC §11).
    if not seen.remember(query.signature, body_digest(body), int(query.timestamp) + TIMESTAMP_WINDOW + 1):
        raise ForgedPush("signature already used with another body")
    return VerifiedPush(message, None, body.decode("utf-8"))  # parse_fields proved it UTF-8


def verify_push(
    params: Mapping[str, str],
    body: bytes,
    secrets: PushSecrets,
    mode: str,
    app_id: str,
    now: float,
    seen: ReplayGuard,
) -> VerifiedPush:
    """Every check of SPEC §7.4/§11/§15 on one POST, cheapest and most decisive first; raises
    :class:`PushRefused`. ``seen`` is consulted (and written) only in plaintext mode, after all else passed."""
    if mode not in MODES:
        raise ValueError(f"unknown encryption mode {mode!r}")
    query = check_signature(params, secrets.token, now)
    fields = parse_fields(body)
    if mode == "plaintext":
        return _verify_plaintext(query, params, fields, body, seen)
    return _verify_encrypted(query, params, fields, secrets, app_id)
