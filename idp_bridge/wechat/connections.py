"""Connections: create, change, read and delete WeChat service accounts, with SPEC §4's validation rules.

Secrets (AppSecret, Token, EncodingAESKey and the previous key kept during a key change) are sealed with the
instance secret key; nothing here ever returns them except :func:`connection_secrets`, which the callback and
the API client call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from idp_bridge import audit
from idp_bridge.extensions import db
from idp_bridge.secretbox import open_sealed, seal
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.models import Connection

ENCRYPTION_MODES = ("plaintext", "compatible", "safe")
ASSOCIATIONS = ("none", "unionid", "binding")
_IDENTIFIER = re.compile(r"[a-z0-9-]{1,31}")
_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_APP_ID = re.compile(r"wx[0-9a-f]{16}")
_APP_SECRET = re.compile(r"[A-Za-z0-9]{16,64}")
_SCENE_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,16}")
_MAX_REPLY = 600  # WeChat truncates long passive replies; 600 characters keeps it readable on a phone
# Names the application and the time, so a person tricked into scanning someone else's QR code notices.
DEFAULT_REPLY = "你正在登录「{app}」（{time}）。如非本人操作，请忽略。/ Signing in to {app} at {time}."


@dataclass(frozen=True)
class ConnectionSecrets:
    """The decrypted secrets of one connection; never logged, never printed."""

    app_secret: str
    token: str
    encoding_aes_key: str | None
    previous_aes_key: str | None

    def aes_keys(self) -> list[str]:
        """Keys to try on decrypt: current first, then the previous one during a key change."""
        return [k for k in (self.encoding_aes_key, self.previous_aes_key) if k]

    def __repr__(self) -> str:
        return "ConnectionSecrets(<hidden>)"


def _check(field: str, value: str | None, pattern: re.Pattern[str], rule: str) -> str:
    if value is None or not pattern.fullmatch(value):
        raise ValidationError(field, rule)
    return value


def _check_text(field: str, value: str, limit: int, *, allow_empty: bool = False) -> str:
    if (not allow_empty and not value.strip()) or len(value) > limit:
        raise ValidationError(field, f"must be {'' if allow_empty else '1-'}{limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValidationError(field, "must not contain control characters")
    return value


def _app_id(value: str) -> str:
    return _check("app_id", value, _APP_ID, "must look like wx followed by 16 lowercase hex characters")


def _app_secret(value: str) -> str:
    return _check("app_secret", value, _APP_SECRET, "must be the 32-character AppSecret from the WeChat console")


def _token(value: str) -> str:
    return _check("token", value, _TOKEN, "must be 3-32 ASCII letters or digits")


def _aes_key(value: str | None, rule_suffix: str = "") -> str:
    return _check("encoding_aes_key", value, _AES_KEY, "must be exactly 43 characters of A-Z, a-z, 0-9" + rule_suffix)


def _encryption(value: str) -> str:
    if value not in ENCRYPTION_MODES:
        raise ValidationError("encryption", f"must be one of {', '.join(ENCRYPTION_MODES)}")
    return value


def _association(value: str) -> str:
    if value not in ASSOCIATIONS:
        raise ValidationError("association", f"must be one of {', '.join(ASSOCIATIONS)}")
    return value


def _scene_prefix(value: str) -> str:
    return _check("scene_prefix", value, _SCENE_PREFIX, "1-16 characters of letters, digits, '_' and '-'")


def _seal(secret_key: str, purpose: str, value: str) -> str:
    return seal(secret_key, f"connection.{purpose}", value)


def _open(secret_key: str, purpose: str, value: str | None) -> str | None:
    return None if value is None else open_sealed(secret_key, f"connection.{purpose}", value)


def get_connection(identifier: str) -> Connection | None:
    if not isinstance(identifier, str) or not _IDENTIFIER.fullmatch(identifier):
        return None
    return db.session.scalar(db.select(Connection).where(Connection.identifier == identifier))


def list_connections() -> list[Connection]:
    return list(db.session.scalars(db.select(Connection).order_by(Connection.identifier)))


def create_connection(
    secret_key: str,
    *,
    identifier: str,
    display_name: str,
    app_id: str,
    app_secret: str,
    token: str,
    encryption: str,
    encoding_aes_key: str | None = None,
    login_only: bool = False,
    association: str = "none",
    reply_text: str | None = None,
    scene_prefix: str | None = None,
    confirm_in_wechat: bool = False,
) -> Connection:
    """Validate everything first, then write once: on any error nothing is stored."""
    _check("identifier", identifier, _IDENTIFIER, "1-31 characters of lowercase letters, digits and '-'")
    if get_connection(identifier) is not None:
        raise ValidationError("identifier", f"'{identifier}' is already used by another connection")
    _check_text("display_name", display_name, 100)
    _app_id(app_id)
    _app_secret(app_secret)
    _token(token)
    _encryption(encryption)
    if encoding_aes_key is not None or encryption != "plaintext":
        _aes_key(encoding_aes_key, " (required unless encryption is plaintext)")
    _association(association)
    reply_text = DEFAULT_REPLY if reply_text is None else reply_text
    _check_text("reply_text", reply_text, _MAX_REPLY, allow_empty=True)
    prefix = _scene_prefix(scene_prefix if scene_prefix is not None else f"{identifier[:10]}_".replace("-", "_"))

    connection = Connection(
        identifier=identifier,
        display_name=display_name,
        app_id=app_id,
        app_secret_sealed=_seal(secret_key, "app_secret", app_secret),
        token_sealed=_seal(secret_key, "token", token),
        encoding_aes_key_sealed=_seal(secret_key, "aes_key", encoding_aes_key) if encoding_aes_key else None,
        encryption=encryption,
        login_only=login_only,
        association=association,
        reply_text=reply_text,
        scene_prefix=prefix,
        confirm_in_wechat=confirm_in_wechat,
    )
    db.session.add(connection)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ValidationError("identifier", f"'{identifier}' is already used by another connection") from None
    audit.record("connection.create", actor=audit.current_actor(), target=identifier, encryption=encryption)
    return connection


def update_connection(secret_key: str, connection: Connection, **changes: Any) -> Connection:
    """Apply changes (unset ones are ``None``); a new EncodingAESKey keeps the old one as previous.

    All-or-nothing: a rule broken by any field rolls back the fields already applied.
    """
    try:
        _apply_changes(secret_key, connection, changes)
    except ValidationError:
        db.session.rollback()
        raise
    db.session.commit()
    audit.record("connection.update", actor=audit.current_actor(), target=connection.identifier,
                 fields=sorted(k for k, v in changes.items() if v not in (None, False)))
    return connection


def _apply_changes(secret_key: str, connection: Connection, changes: dict[str, Any]) -> None:
    secrets = connection_secrets(secret_key, connection)
    if changes.get("identifier") not in (None, connection.identifier):
        raise ValidationError("identifier", "is immutable; create a new connection instead")
    if (name := changes.get("display_name")) is not None:
        connection.display_name = _check_text("display_name", name, 100)
    if (app_id := changes.get("app_id")) is not None:
        connection.app_id = _app_id(app_id)
    if (app_secret := changes.get("app_secret")) is not None:
        connection.app_secret_sealed = _seal(secret_key, "app_secret", _app_secret(app_secret))
    if (token := changes.get("token")) is not None:
        connection.token_sealed = _seal(secret_key, "token", _token(token))
    if (new_key := changes.get("encoding_aes_key")) is not None:
        _aes_key(new_key)
        if secrets.encoding_aes_key and secrets.encoding_aes_key != new_key:
            connection.previous_aes_key_sealed = connection.encoding_aes_key_sealed
        connection.encoding_aes_key_sealed = _seal(secret_key, "aes_key", new_key)
        secrets = ConnectionSecrets(secrets.app_secret, secrets.token, new_key, secrets.previous_aes_key)
    if changes.get("drop_previous_aes_key"):
        connection.previous_aes_key_sealed = None
    if (encryption := changes.get("encryption")) is not None:
        _encryption(encryption)
        if encryption != "plaintext" and not secrets.encoding_aes_key:
            raise ValidationError("encoding_aes_key", f"is required for encryption '{encryption}'")
        connection.encryption = encryption
    if (login_only := changes.get("login_only")) is not None:
        connection.login_only = bool(login_only)
    if (association := changes.get("association")) is not None:
        connection.association = _association(association)
    if (reply := changes.get("reply_text")) is not None:
        connection.reply_text = _check_text("reply_text", reply, _MAX_REPLY, allow_empty=True)
    if (confirm := changes.get("confirm_in_wechat")) is not None:
        connection.confirm_in_wechat = bool(confirm)
    if (prefix := changes.get("scene_prefix")) is not None:
        connection.scene_prefix = _scene_prefix(prefix)


def delete_connection(connection: Connection) -> None:
    identifier = connection.identifier
    db.session.delete(connection)
    db.session.commit()
    audit.record("connection.delete", actor=audit.current_actor(), target=identifier)


def connection_secrets(secret_key: str, connection: Connection) -> ConnectionSecrets:
    """Decrypt a connection's secrets for the callback and the API client."""
    return unseal_secrets(secret_key, sealed_secrets(connection))


def sealed_secrets(connection: Connection) -> tuple[str, str, str | None, str | None]:
    """A connection's sealed AppSecret, Token, EncodingAESKey and previous key, as stored."""
    return (connection.app_secret_sealed, connection.token_sealed, connection.encoding_aes_key_sealed,
            connection.previous_aes_key_sealed)


def unseal_secrets(secret_key: str, sealed: tuple[str, str, str | None, str | None]) -> ConnectionSecrets:
    """The secrets from their sealed form (:func:`sealed_secrets`, or the same columns read without the ORM)."""
    app_secret, token, aes_key, previous = sealed
    return ConnectionSecrets(
        app_secret=_open(secret_key, "app_secret", app_secret) or "",
        token=_open(secret_key, "token", token) or "",
        encoding_aes_key=_open(secret_key, "aes_key", aes_key),
        previous_aes_key=_open(secret_key, "aes_key", previous),
    )


def callback_url(issuer: str, connection: Connection) -> str:
    """The server URL to paste into the WeChat console."""
    return f"{issuer}/connections/social/{connection.identifier}/events"


def describe(issuer: str, connection: Connection) -> dict[str, Any]:
    """What an operator may see: never a secret."""
    return {
        "identifier": connection.identifier,
        "display_name": connection.display_name,
        "app_id": connection.app_id,
        "encryption": connection.encryption,
        "login_only": connection.login_only,
        "association": connection.association,
        "reply_text": connection.reply_text,
        "scene_prefix": connection.scene_prefix,
        "confirm_in_wechat": connection.confirm_in_wechat,
        "key_change_in_progress": connection.previous_aes_key_sealed is not None,
        "callback_url": callback_url(issuer, connection),
        "created_at": connection.created_at.isoformat() if connection.created_at else None,
    }
