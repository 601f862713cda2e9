"""What each process knows of the cached kinds' versions, and the caches that trust it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from sqlalchemy.engine import URL

V = TypeVar("V")

#: A listener that has not read the versions for this long is presumed cut off: caches stop trusting it.
FRESHNESS_SECONDS = 2.0
#: Bound per cache; beyond it the cache starts over (values are small; this only stops unbounded growth).
MAX_ENTRIES = 10_000

#: table name → the kinds made of it (filled by :func:`watch` at import time).
WATCHED: dict[str, set[str]] = {}


def watch(kind: str, *tables: str) -> None:
    """Declare that a change to any of ``tables`` invalidates every cache of ``kind``."""
    for table in tables:
        WATCHED.setdefault(table, set()).add(kind)


def kinds_of(table_name: str) -> set[str]:
    return WATCHED.get(table_name, set())


def database_key(url: URL) -> str:
    """One key per database, whatever the driver spelling."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


def is_private_database(key: str) -> bool:
    """An in-memory SQLite database lives in one process: its own commits are all the changes there are."""
    return key.startswith("sqlite") and (key in ("sqlite://", "sqlite:///") or ":memory:" in key
                                         or "mode=memory" in key)


class Versions:
    """Per process and database: a generation per kind, moved on by local commits and by the listener."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.private = is_private_database(key)
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}
        self._epoch = 0  # moved when the listener loses track: every kind is then stale
        self.last_read = 0.0
        self.last_used = time.monotonic()
        self._listener_pid: int | None = None

    # --- readers ------------------------------------------------------------------------------------------
    def trusted(self) -> bool:
        """Whether caches may serve from memory now (and make sure someone is listening)."""
        self.last_used = time.monotonic()
        if self.private:
            return True
        self._ensure_listener()
        return time.monotonic() - self.last_read < FRESHNESS_SECONDS

    def generation(self, kind: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(kind, 0)

    # --- writers ------------------------------------------------------------------------------------------
    def bump(self, kinds: Iterable[str]) -> None:
        with self._lock:
            for kind in kinds:
                self._generations[kind] = self._generations.get(kind, 0) + 1

    def lost_track(self) -> None:
        with self._lock:
            self._epoch += 1
            self.last_read = 0.0

    def read(self) -> None:
        self.last_read = time.monotonic()

    def _ensure_listener(self) -> None:
        if self._listener_pid == _PID[0]:
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._epoch += 1  # after a fork, nothing the parent learnt is trusted
            self.last_read = 0.0
        from idp_bridge.cache.listener import start_listener

        start_listener(self)

    def listener_ended(self) -> None:
        """The listener stopped (idle or unreachable database): the next reader starts a new one."""
        with self._lock:
            self._listener_pid = None
            self._epoch += 1
            self.last_read = 0.0


#: this process's id, kept up to date across forks (``os.getpid`` is a system call, and every cache read asks)
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))

_VERSIONS: dict[str, Versions] = {}
_VERSIONS_LOCK = threading.Lock()


def versions_for(key: str) -> Versions:
    found = _VERSIONS.get(key)
    if found is None:
        with _VERSIONS_LOCK:
            found = _VERSIONS.setdefault(key, Versions(key))
    return found


class ProcessCache:
    """One kind's values in one app, each remembered with the generation it was loaded under."""

    def __init__(self, kind: str, versions: Versions) -> None:
        self.kind = kind
        self.versions = versions
        self._entries: dict[Hashable, tuple[tuple[int, int], Any]] = {}

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        if not self.versions.trusted():
            return load()
        generation = self.versions.generation(self.kind)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation:
            return entry[1]
        value = load()  # the generation was taken before loading: a change meanwhile makes this entry stale
        if value is not None:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (generation, value)
        return value

    def clear(self) -> None:
        self._entries.clear()
