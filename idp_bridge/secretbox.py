"""Encryption at rest for secrets we must be able to read back (WeChat AppSecret, Token, AES keys,
private signing keys).

AES-256-GCM with a key derived from ``IDP_BRIDGE_SECRET_KEY`` by HKDF-SHA256 and a per-purpose label,
so a stolen database alone reveals nothing, and a value encrypted for one purpose cannot be replayed
as another. Values we only need to *compare* (client secrets, tokens) are hashed instead (``digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF

_VERSION = b"v1"


class SecretBoxError(ValueError):
    """A stored secret cannot be decrypted: wrong ``IDP_BRIDGE_SECRET_KEY`` or tampered data."""


@lru_cache(maxsize=128)
def _key(secret_key: str, purpose: str) -> bytes:
    """Derived once per (key, purpose): the callback unseals a connection's secrets on every push."""
    derived = HKDF(secret_key.encode(), 32, b"idp-bridge", SHA256, context=purpose.encode())
    return derived if isinstance(derived, bytes) else derived[0]


def seal(secret_key: str, purpose: str, plaintext: str) -> str:
    """Encrypt ``plaintext`` for ``purpose``; the result is ASCII, safe for a text column."""
    nonce = os.urandom(12)
    cipher = AES.new(_key(secret_key, purpose), AES.MODE_GCM, nonce=nonce)
    cipher.update(_VERSION + purpose.encode())
    body, tag = cipher.encrypt_and_digest(plaintext.encode())
    return _VERSION.decode() + ":" + base64.urlsafe_b64encode(nonce + tag + body).decode()


def open_sealed(secret_key: str, purpose: str, sealed: str) -> str:
    """Decrypt a value made by :func:`seal` with the same key and purpose."""
    try:
        version, payload = sealed.split(":", 1)
        raw = base64.urlsafe_b64decode(payload.encode())
        if version.encode() != _VERSION or len(raw) < 28:
            raise ValueError("unknown format")
        cipher = AES.new(_key(secret_key, purpose), AES.MODE_GCM, nonce=raw[:12])
        cipher.update(_VERSION + purpose.encode())
        return cipher.decrypt_and_verify(raw[28:], raw[12:28]).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise SecretBoxError(f"cannot decrypt stored {purpose}: wrong secret key or damaged value") from exc


def digest(value: str) -> str:
    """SHA-256 hex of a high-entropy value (tokens, codes, client secrets) for lookup by equality."""
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, expected_digest: str) -> bool:
    """Constant-time check of ``value`` against a stored :func:`digest`."""
    return hmac.compare_digest(digest(value), expected_digest)
