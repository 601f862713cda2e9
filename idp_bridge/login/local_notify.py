"""Cross-process wake-ups for SQLite deployments (several workers on one host, no PostgreSQL NOTIFY, no Redis).

Every process that waits binds a Linux abstract-namespace datagram socket (no file-system path, so no length
limit and nothing left behind) and registers its name as an empty file in a folder beside the database file;
a publisher sends one datagram, carrying the changed login session's id, to each registered name. A name whose
process is gone refuses the datagram and its registration is removed. Other platforms keep the periodic
database check as the only cross-process path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def registry_for(database_url: str) -> Path | None:
    """The registration folder of a SQLite file database (``<file>.wake``), or None for anything else."""
    prefix = "sqlite:///"
    if sys.platform != "linux" or not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix):].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path + ".wake")


def _address(registry: Path, name: str) -> bytes:
    digest = hashlib.sha256(str(registry.resolve()).encode()).hexdigest()[:16]
    return b"\0idpb-" + digest.encode() + b"-" + name.encode()


MAX_PAYLOAD = 128  # a login session id is 22 characters; anything longer is not ours and wakes as "unknown"


def listen(registry: Path) -> Iterator[str | None]:
    """Bind this process's socket, register it, and yield the session id of each datagram received (blocking;
    ``None`` when a datagram carries none)."""
    registry.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{os.getpid()}-{secrets.token_hex(4)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(_address(registry, name))
    (registry / name).touch(mode=0o600)
    try:
        while True:
            data = sock.recv(MAX_PAYLOAD + 1)
            text = data.decode("ascii", "replace") if 0 < len(data) <= MAX_PAYLOAD else ""
            yield text if text.isprintable() and text.strip() == text and text else None
    finally:
        sock.close()
        (registry / name).unlink(missing_ok=True)


def publish(registry: Path, session_id: str | None = None) -> None:
    """Send one wake-up for ``session_id`` to every registered process (this one's own listener included:
    harmless)."""
    payload = (session_id or "").encode("ascii", "replace")[:MAX_PAYLOAD]
    try:
        names = [entry.name for entry in registry.iterdir()]
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for name in names:
            try:
                sock.sendto(payload, _address(registry, name))
            except (ConnectionRefusedError, FileNotFoundError):
                (registry / name).unlink(missing_ok=True)  # its process has ended
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups pending anyway
            except OSError as exc:
                log.debug("local wake-up to %s failed (%s)", name, type(exc).__name__)
