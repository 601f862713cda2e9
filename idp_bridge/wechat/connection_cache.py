"""What the callback needs of a connection, with its secrets already unsealed, kept per process.

Every push names its connection in the URL and must be verified with the connection's Token and EncodingAESKey
(WeChat "消息加解密说明"); reading the row and unsealing three AES-GCM secrets (``secretbox``) on each of
hundreds of pushes a second is wasted work, since connections change a few times a year. The snapshot is an
immutable value (never an ORM instance, which belongs to one session and one thread).

A changed connection (secret rotation, AES key change, delete) must be seen by every worker and instance within
1 s: :func:`get` keeps a snapshot for at most :data:`MAX_AGE` seconds and then re-reads the row (one indexed
SELECT per worker per connection per interval, however busy the callback is); the sealed values are compared
first, so an unchanged row is not unsealed again. A change made in this process (the CLI, the console) is
forgotten at once by :func:`invalidate`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from idp_bridge.extensions import db
from idp_bridge.wechat.connections import ConnectionSecrets, unseal_secrets
from idp_bridge.wechat.models import Connection

#: Seconds a snapshot is trusted before the row is read again: below the 1 s within which every worker must
#: see a changed connection.
MAX_AGE = 0.5
#: Bound on the snapshots kept per process (unknown identifiers are not kept at all).
MAX_ENTRIES = 1_000
_IDENTIFIER = re.compile(r"[a-z0-9-]{1,31}")
_EXTENSION = "idp_bridge.connection_cache"
_COLUMNS = (Connection.id, Connection.identifier, Connection.app_id, Connection.encryption, Connection.scene_prefix,
            Connection.confirm_in_wechat, Connection.code_login, Connection.app_secret_sealed,
            Connection.token_sealed, Connection.encoding_aes_key_sealed, Connection.previous_aes_key_sealed)


@dataclass(frozen=True)
class CachedConnection:
    """The fields of a connection the callback reads on every push, and its unsealed secrets."""

    id: int
    identifier: str
    app_id: str
    encryption: str
    scene_prefix: str
    confirm_in_wechat: bool
    code_login: bool
    secrets: ConnectionSecrets
    sealed: tuple[str, str, str | None, str | None]  # what ``secrets`` came from: unchanged → not unsealed again

    def __repr__(self) -> str:
        return f"CachedConnection({self.identifier!r})"


class _Store:
    """One app's snapshots: identifier → (monotonic time loaded, snapshot)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[float, CachedConnection]] = {}

    def get(self, identifier: str, load: Callable[[CachedConnection | None], CachedConnection | None],
            ) -> CachedConnection | None:
        entry = self.entries.get(identifier)
        now = time.monotonic()
        if entry is not None and now - entry[0] < MAX_AGE:
            return entry[1]
        value = load(entry[1] if entry is not None else None)
        with self.lock:
            if value is None:
                self.entries.pop(identifier, None)
            else:
                if len(self.entries) >= MAX_ENTRIES:
                    self.entries.clear()
                self.entries[identifier] = (now, value)
        return value

    def forget(self, identifier: str | None) -> None:
        with self.lock:
            if identifier is None:
                self.entries.clear()
            else:
                self.entries.pop(identifier, None)


def _store() -> _Store:
    found: _Store | None = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = current_app.extensions.setdefault(_EXTENSION, _Store())
    return found


def _load(identifier: str, known: CachedConnection | None) -> CachedConnection | None:
    row = db.session.execute(db.select(*_COLUMNS).where(Connection.identifier == identifier)).one_or_none()
    if row is None:
        return None
    sealed = (row.app_secret_sealed, row.token_sealed, row.encoding_aes_key_sealed, row.previous_aes_key_sealed)
    if known is not None and known.sealed == sealed and known.id == row.id:
        unsealed = known.secrets
    else:
        unsealed = unseal_secrets(current_app.config["SECRET_KEY"], sealed)
    return CachedConnection(id=row.id, identifier=row.identifier, app_id=row.app_id, encryption=row.encryption,
                            scene_prefix=row.scene_prefix, confirm_in_wechat=bool(row.confirm_in_wechat),
                            code_login=bool(row.code_login), secrets=unsealed, sealed=sealed)


def get(identifier: str) -> CachedConnection | None:
    """The connection named ``identifier`` as of at most :data:`MAX_AGE` seconds ago; ``None`` if unknown."""
    if not isinstance(identifier, str) or not _IDENTIFIER.fullmatch(identifier):
        return None
    return _store().get(identifier, lambda known: _load(identifier, known))


def invalidate(identifier: str | None = None) -> None:
    """Forget ``identifier`` (every connection when ``None``) in this process: a change made here is used by
    this process's next push."""
    _store().forget(identifier)
