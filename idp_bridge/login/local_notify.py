"""Cross-process wake-ups for SQLite deployments (several workers on one host, no PostgreSQL NOTIFY, no Redis).

Every process that waits binds a Linux abstract-namespace datagram socket (no file-system path, so no length
limit and nothing left behind) and registers its name as an empty file in a folder beside the database file;
a publisher sends one datagram to each registered name. A name whose process is gone refuses the datagram and
its registration is removed. Other platforms keep the periodic database check as the only cross-process path.
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


def listen(registry: Path) -> Iterator[object]:
    """Bind this process's socket, register it, and yield once per datagram received (blocking)."""
    registry.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{os.getpid()}-{secrets.token_hex(4)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(_address(registry, name))
    (registry / name).touch(mode=0o600)
    try:
        while True:
            sock.recv(64)
            yield None
    finally:
        sock.close()
        (registry / name).unlink(missing_ok=True)


def publish(registry: Path) -> None:
    """Send one wake-up to every registered process (this one's own listener included: harmless)."""
    try:
        names = [entry.name for entry in registry.iterdir()]
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for name in names:
            try:
                sock.sendto(b"1", _address(registry, name))
            except (ConnectionRefusedError, FileNotFoundError):
                (registry / name).unlink(missing_ok=True)  # its process has ended
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups pending anyway
            except OSError as exc:
                log.debug("local wake-up to %s failed (%s)", name, type(exc).__name__)
