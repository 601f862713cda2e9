"""WeChat message signatures and AES message crypto (WXBizMsgCrypt), as pure functions.

Reference: WeChat "message encryption" docs and ``shared/wechat/PROTOCOL.md``. Where the common SDKs are lax
we are strict: constant-time comparisons, 32-byte PKCS#7 padding validated on decrypt, the length prefix and
the AppID tail checked, and only this module's exception types escape, whatever bytes arrive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Sequence

from Crypto.Cipher import AES

BLOCK = 32  # WeChat pads to 32-byte blocks, not AES's 16
_AES_KEY_RE = re.compile(r"[A-Za-z0-9]{43}")


class WeChatCryptoError(Exception):
    """Base of every error this module raises."""


class InvalidSignature(WeChatCryptoError):
    """A ``signature`` or ``msg_signature`` does not match."""


class InvalidAESKey(WeChatCryptoError):
    """An EncodingAESKey is not 43 characters of ``[A-Za-z0-9]``."""


class DecryptError(WeChatCryptoError):
    """Ciphertext is not valid base64, has a bad length, bad padding or a bad inner length."""


class AppIdMismatch(WeChatCryptoError):
    """The decrypted message belongs to another AppID."""


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    """``signature`` of every push and of the server URL verification."""
    return _sha1_sorted(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """``msg_signature`` of an encrypted push, over the ``Encrypt`` text exactly as received."""
    return _sha1_sorted(token, timestamp, nonce, encrypt)


def signatures_equal(expected: str, given: str) -> bool:
    """Constant-time comparison that tolerates any input (non-ASCII included) without raising."""
    return hmac.compare_digest(expected.encode("utf-8", "replace"), given.encode("utf-8", "replace"))


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    if not isinstance(encoding_aes_key, str) or not _AES_KEY_RE.fullmatch(encoding_aes_key):
        raise InvalidAESKey("EncodingAESKey must be exactly 43 characters of A-Z, a-z, 0-9")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - 43 base64 chars always give 32 bytes
        raise InvalidAESKey("EncodingAESKey does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    amount = BLOCK - (len(data) % BLOCK)
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad padding")
    return data[:-amount]


def encrypt(plaintext: str, encoding_aes_key: str, app_id: str, random16: bytes | None = None) -> str:
    """Encrypt a message as WeChat does: ``random(16) | len | msg | appid``, AES-256-CBC, base64."""
    key = aes_key_bytes(encoding_aes_key)
    nonce = os.urandom(16) if random16 is None else random16
    if len(nonce) != 16:
        raise WeChatCryptoError("random16 must be 16 bytes")
    body = plaintext.encode()
    raw = nonce + struct.pack(">I", len(body)) + body + app_id.encode()
    cipher = AES.new(key, AES.MODE_CBC, iv=key[:16])
    return base64.b64encode(cipher.encrypt(_pad(raw))).decode()


def decrypt(encrypt_b64: str, encoding_aes_key: str, app_id: str) -> str:
    """Decrypt an ``Encrypt`` value and check that it was made for ``app_id``."""
    key = aes_key_bytes(encoding_aes_key)
    try:
        data = base64.b64decode(encrypt_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DecryptError("ciphertext is not base64") from exc
    if not data or len(data) % 16:
        raise DecryptError("ciphertext length is not a multiple of the AES block")
    raw = _unpad(AES.new(key, AES.MODE_CBC, iv=key[:16]).decrypt(data))
    if len(raw) < 20:
        raise DecryptError("plaintext too short")
    (length,) = struct.unpack(">I", raw[16:20])
    if 20 + length > len(raw):
        raise DecryptError("inner length exceeds the plaintext")
    body, tail = raw[20 : 20 + length], raw[20 + length :]
    if not hmac.compare_digest(tail, app_id.encode()):
        raise AppIdMismatch("message was encrypted for another AppID")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptError("message is not UTF-8") from exc


def decrypt_with_fallback(encrypt_b64: str, keys: Sequence[str], app_id: str) -> tuple[str, str]:
    """Try the current key, then the previous one (key change in progress); return (plaintext, key used).

    An AppID mismatch with a key that decrypted cleanly is final: another key will not fix it.
    """
    last: WeChatCryptoError = DecryptError("no AES key configured")
    for key in keys:
        try:
            return decrypt(encrypt_b64, key, app_id), key
        except AppIdMismatch:
            raise
        except WeChatCryptoError as exc:
            last = exc
    raise last


def encrypt_reply(
    plaintext_xml: str,
    encoding_aes_key: str,
    app_id: str,
    token: str,
    timestamp: str,
    nonce: str,
    random16: bytes | None = None,
) -> str:
    """The encrypted passive-reply envelope WeChat expects in safe and compatible modes."""
    encrypted = encrypt(plaintext_xml, encoding_aes_key, app_id, random16)
    signature = msg_signature(token, timestamp, nonce, encrypted)
    return (
        f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )
