"""Wake waiting login pages when their login session changes, across threads and worker processes.

In one process a ``threading.Condition`` wakes the thread-held waiters at once, and subscribers (the event
loop that holds the asynchronous status streams, :mod:`idp_bridge.streaming`) are told *which* login session
changed, so that only its own pages re-read it. Across processes the change is published with the session's id
as payload on PostgreSQL (``NOTIFY idpb_login``), Redis (``PUBLISH``) or, for SQLite, local datagram sockets
(``local_notify``), and a listener thread in every process turns it into the same local wake-up. Waiters also
re-read the database at a bounded interval, so a lost notification costs at most that interval, never a login.
A wake-up without a session id (a listener that lost its connection) means "anything may have changed".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from idp_bridge import redis_clients
from idp_bridge.extensions import db
from idp_bridge.login import local_notify

log = logging.getLogger(__name__)
CHANNEL = "idpb_login"


Subscriber = Callable[[str | None], None]


class Hub:
    """A per-process version counter that publishers bump and waiters wait on, plus subscribers told which
    login session changed (``None``: unknown, re-check everything)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.version = 0
        self._listener_pid: int | None = None
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(session_id)`` on every wake-up, from whichever thread bumps (keep it short and
        thread-safe, e.g. ``loop.call_soon_threadsafe``)."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def bump(self, session_id: str | None = None) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()
        for callback in list(self._subscribers):
            try:
                callback(session_id)
            except RuntimeError:  # its event loop has closed (the worker is stopping)
                self.unsubscribe(callback)

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self.version == seen:
                self._cond.wait(timeout)
            return self.version

    def ensure_listener(self, database_url: str, redis_url: str | None) -> None:
        """Start (once per process, also after a fork) the thread that relays other processes' changes."""
        if self._listener_pid == os.getpid():
            return
        self._listener_pid = os.getpid()
        if redis_url:
            target: Any = _listen_redis
            arg: Any = redis_url
        elif database_url.startswith("postgresql"):
            target, arg = _listen_postgres, database_url
        elif (registry := local_notify.registry_for(database_url)) is not None:
            target, arg = _listen_local, registry
        else:
            return  # in-memory SQLite: one process, in-process wake-up only
        threading.Thread(target=target, args=(self, arg), name="idpb-login-listener", daemon=True).start()


HUB = Hub()
SHUTDOWN = threading.Event()  # set by the gunicorn worker on SIGTERM: open status streams end at once


def stage(session_id: str, database_url: str, redis_url: str | None) -> None:
    """Queue the cross-process notice inside the caller's open transaction, where the backend allows it.

    PostgreSQL delivers a ``NOTIFY`` at commit and only if the transaction commits (PostgreSQL docs, "NOTIFY"):
    sent here it costs no transaction of its own and can never announce a change that was rolled back. With
    Redis or on SQLite the notice is sent by :func:`announce` after the commit instead. It goes on the session's
    connection, not through the ORM session: a notice needs no flush of the transaction's pending changes, which
    would otherwise be written twice when the caller changes the same rows again before committing."""
    if not redis_url and database_url.startswith("postgresql"):
        db.session.connection().execute(_PG_NOTIFY, {"channel": CHANNEL, "payload": session_id})


def announce(session_id: str, database_url: str, redis_url: str | None) -> None:
    """Tell every process that ``session_id`` changed; call after the change (and its :func:`stage`) committed."""
    HUB.bump(session_id)
    try:
        if redis_url:
            redis_clients.client(redis_url).publish(CHANNEL, session_id)
        elif (registry := local_notify.registry_for(database_url)) is not None:
            local_notify.publish(registry, session_id)
    except Exception as exc:  # the periodic database check still delivers the change
        log.warning("cross-process login notification failed (%s); waiters fall back to polling",
                    type(exc).__name__)


def announce_alone(session_id: str, database_url: str, redis_url: str | None) -> None:
    """:func:`announce` for a change committed without its :func:`stage`: on PostgreSQL without Redis the
    notice is a statement of its own (autocommit: delivered at once)."""
    if not redis_url and database_url.startswith("postgresql"):
        from idp_bridge import autocommit

        autocommit.first(_PG_NOTIFY, {"channel": CHANNEL, "payload": session_id})
    announce(session_id, database_url, redis_url)


_PG_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def _relay_forever(hub: Hub, backend: str, notifications: Callable[[], Iterable[str | None]]) -> None:
    """Bump the hub for every notification (with the session id it carries); on a lost connection wake
    everyone (they re-read) and retry."""
    while True:
        try:
            for session_id in notifications():
                hub.bump(session_id)
        except Exception as exc:
            log.warning("%s login listener lost its connection (%s); retrying", backend, type(exc).__name__)
            hub.bump()
            time.sleep(1)


def _listen_postgres(hub: Hub, database_url: str) -> None:
    import psycopg

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def notifications() -> Iterator[str | None]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            for notification in conn.notifies():
                yield notification.payload or None

    _relay_forever(hub, "PostgreSQL", notifications)


def _listen_local(hub: Hub, registry: Path) -> None:
    _relay_forever(hub, "Local", lambda: local_notify.listen(registry))


def _listen_redis(hub: Hub, redis_url: str) -> None:
    import redis

    def notifications() -> Iterator[str | None]:
        pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        for message in pubsub.listen():
            data = message.get("data") if isinstance(message, dict) else None
            yield data.decode("ascii", "replace") if isinstance(data, bytes) and data else None

    _relay_forever(hub, "Redis", notifications)
