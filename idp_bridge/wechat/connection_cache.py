"""What the callback needs of a connection, with its secrets already unsealed, kept per process.

Every push names its connection in the URL and must be verified with the connection's Token and EncodingAESKey
(WeChat "消息加解密说明"); reading the row and unsealing three AES-GCM secrets (``secretbox``) on each of
hundreds of pushes a second is wasted work, since connections change a few times a year. The snapshot is an
immutable value (never an ORM instance, which belongs to one session and one thread).

A changed connection (secret rotation, AES key change, delete) is seen by every worker and instance within 1 s:
the snapshots live in :mod:`idp_bridge.cache` under the kind :data:`CONNECTIONS_KIND`, which every write to the
``connections`` table invalidates everywhere (declared in ``wechat.models``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app

from idp_bridge import cache
from idp_bridge.extensions import db
from idp_bridge.wechat.connections import ConnectionSecrets, unseal_secrets
from idp_bridge.wechat.models import CONNECTIONS_KIND, Connection

_IDENTIFIER = re.compile(r"[a-z0-9-]{1,31}")
_COLUMNS = (Connection.id, Connection.identifier, Connection.app_id, Connection.encryption, Connection.scene_prefix,
            Connection.confirm_in_wechat, Connection.code_login, Connection.login_only, Connection.association,
            Connection.reply_text, Connection.app_secret_sealed,
            Connection.token_sealed, Connection.encoding_aes_key_sealed, Connection.previous_aes_key_sealed)


@dataclass(frozen=True)
class CachedConnection:
    """The fields of a connection the callback reads on every push (and a sign-in scan's decision reads), and
    its unsealed secrets."""

    id: int
    identifier: str
    app_id: str
    encryption: str
    scene_prefix: str
    confirm_in_wechat: bool
    code_login: bool
    login_only: bool
    association: str
    reply_text: str
    secrets: ConnectionSecrets

    def __repr__(self) -> str:
        return f"CachedConnection({self.identifier!r})"


def _load(identifier: str) -> CachedConnection | None:
    row = db.session.execute(db.select(*_COLUMNS).where(Connection.identifier == identifier)).one_or_none()
    if row is None:
        return None
    sealed = (row.app_secret_sealed, row.token_sealed, row.encoding_aes_key_sealed, row.previous_aes_key_sealed)
    return CachedConnection(id=row.id, identifier=row.identifier, app_id=row.app_id, encryption=row.encryption,
                            scene_prefix=row.scene_prefix, confirm_in_wechat=bool(row.confirm_in_wechat),
                            code_login=bool(row.code_login), login_only=bool(row.login_only),
                            association=row.association or "none", reply_text=row.reply_text or "",
                            secrets=unseal_secrets(current_app.config["SECRET_KEY"], sealed))


def get(identifier: str) -> CachedConnection | None:
    """The connection named ``identifier``, ``None`` if unknown (unknown names are not cached)."""
    if not isinstance(identifier, str) or not _IDENTIFIER.fullmatch(identifier):
        return None
    return cache.cached(CONNECTIONS_KIND, identifier, lambda: _load(identifier))
