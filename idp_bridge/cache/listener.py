"""The thread that keeps one process's :class:`~idp_bridge.cache.versions.Versions` in step with the database.

It reads ``cache_versions`` on its own connection — never the request pool, so it costs requests nothing —
whenever PostgreSQL delivers ``NOTIFY idpb_cache`` and at least every ``POLL_SECONDS``. On SQLite, where there is
no notification, the poll alone bounds the delay. A thread nobody has asked for ``IDLE_SECONDS`` ends (a
process that stopped using a database, or a test database that is gone); the next reader starts another.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from idp_bridge.cache.versions import Versions

log = logging.getLogger(__name__)
CHANNEL = "idpb_cache"
POLL_SECONDS = 0.25
IDLE_SECONDS = 300.0
RETRY_SECONDS = 1.0
MAX_FAILURES = 10
_QUERY = "SELECT kind, version FROM cache_versions"


def start_listener(versions: Versions) -> None:
    threading.Thread(target=_run, args=(versions,), name="idpb-cache-listener", daemon=True).start()


def _run(versions: Versions) -> None:
    url = make_url(versions.key)
    connect: Callable[[], tuple[Callable[[], list[tuple[str, int]]], Callable[[], None], Callable[[], None]]]
    connect = _postgres(versions.key) if url.get_backend_name() == "postgresql" else _sqlite(url.database or "")
    seen: dict[str, int] | None = None
    failures = 0
    try:
        while time.monotonic() - versions.last_used < IDLE_SECONDS:
            try:
                read, wait, close = connect()
            except Exception as exc:
                failures += 1
                if failures >= MAX_FAILURES:
                    log.warning("cache listener cannot reach the database (%s); caches stay off", type(exc).__name__)
                    return
                time.sleep(RETRY_SECONDS)
                continue
            try:
                while time.monotonic() - versions.last_used < IDLE_SECONDS:
                    current = dict(read())
                    if seen is not None:
                        changed = {k for k in current.keys() | seen.keys() if current.get(k) != seen.get(k)}
                        if changed:
                            versions.bump(changed)
                    seen = current
                    versions.read()
                    failures = 0
                    wait()
            except Exception as exc:
                log.info("cache listener lost the database (%s); reconnecting", type(exc).__name__)
                versions.lost_track()
                seen = None
                failures += 1
                time.sleep(RETRY_SECONDS if failures > 1 else 0)
            finally:
                close()
    finally:
        versions.listener_ended()


def _postgres(key: str) -> Callable[[], tuple[Callable[[], list[tuple[str, int]]], Callable[[], None],
                                              Callable[[], None]]]:
    import psycopg

    def connect() -> tuple[Callable[[], list[tuple[str, int]]], Callable[[], None], Callable[[], None]]:
        conn: Any = psycopg.connect(key.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True,
                                    connect_timeout=5, application_name="idp-bridge cache listener")
        conn.execute(f"LISTEN {CHANNEL}")

        def read() -> list[tuple[str, int]]:
            return [(str(k), int(v)) for k, v in conn.execute(_QUERY).fetchall()]

        def wait() -> None:
            for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                pass

        return read, wait, conn.close

    return connect


def _sqlite(path: str) -> Callable[[], tuple[Callable[[], list[tuple[str, int]]], Callable[[], None],
                                               Callable[[], None]]]:
    def connect() -> tuple[Callable[[], list[tuple[str, int]]], Callable[[], None], Callable[[], None]]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)

        def read() -> list[tuple[str, int]]:
            return [(str(k), int(v)) for k, v in conn.execute(_QUERY).fetchall()]

        return read, lambda: time.sleep(POLL_SECONDS), conn.close

    return connect
