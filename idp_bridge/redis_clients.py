"""One Redis client (and its connection pool) per URL per process.

``redis.Redis.from_url`` builds a new connection pool each time, so calling it per request opens a TCP
connection (and runs the HELLO/CLIENT handshake) per publish: on the login path that was the largest single
cost of a WeChat push after the database. redis-py's clients are thread-safe (each command takes a
connection from the pool), so one per process serves every thread; a forked worker must not share its
parent's sockets, hence the key includes the process id.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[int, str], Any] = {}
SOCKET_TIMEOUT = 1.0  # a stalled Redis must not hold a request: callers fall back to the database


def client(url: str) -> Any:
    """The process's client for ``url`` (``redis.Redis``), created on first use."""
    key = (os.getpid(), url)
    found = _clients.get(key)
    if found is not None:
        return found
    import redis

    with _lock:
        found = _clients.get(key)
        if found is None:
            found = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, health_check_interval=30)
            _clients[key] = found
    return found
