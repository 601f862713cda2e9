"""Per-process caches of rows that are read on every request but rarely change (applications, signing keys,
WeChat connections), kept correct across worker processes and instances.

How a change reaches every process:

* Writers do nothing special. A SQLAlchemy session hook (:mod:`idp_bridge.cache.hooks`) sees every INSERT,
  UPDATE and DELETE of a watched table — ORM flushes and Core statements run through the session alike — and,
  inside the same transaction, bumps the kind's row in ``cache_versions`` (on PostgreSQL it also sends
  ``NOTIFY idpb_cache``, which PostgreSQL delivers only if and when the transaction commits).
* After the commit the writer's own process forgets the kind at once.
* Every other process has one listener thread per database (:mod:`idp_bridge.cache.listener`). It re-reads
  ``cache_versions`` when a notification arrives and at least every 0.25 s, and forgets every kind whose version
  changed. So a change is seen everywhere within milliseconds (PostgreSQL) and at worst 0.25 s (SQLite).
* A process whose listener has not read the versions in the last 2 s (not started yet, or cut off from the
  database) does not use its caches at all: it loads every time, so it never serves a stale row for longer.

Use::

    from idp_bridge import cache
    cache.watch("clients", "clients", "client_connections")      # at import time: tables of a kind
    client = cache.cached("clients", client_id, lambda: load(client_id))

Values must be immutable snapshots (never ORM instances, which belong to one session and one thread); ``None``
is not cached, so unknown keys cost a load each time and cannot fill the memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from flask import current_app, has_app_context

from idp_bridge.cache.versions import MAX_ENTRIES, ProcessCache, database_key, versions_for, watch

__all__ = ["MAX_ENTRIES", "NotCached", "ProcessCache", "cached", "forget_all", "memory_only", "watch"]

V = TypeVar("V")
_EXTENSION = "idp_bridge.caches"
_MEMORY_ONLY: ContextVar[bool] = ContextVar("idpb_cache_memory_only", default=False)


class NotCached(LookupError):
    """Inside :func:`memory_only`: the value is not in memory (or memory is not trusted now), and loading it
    is not allowed here."""


@contextmanager
def memory_only() -> Iterator[None]:
    """Within the block, :func:`cached` answers from memory or raises :class:`NotCached`, never loading: for
    code on an event loop, where a synchronous database read would stall every other request of the worker."""
    token = _MEMORY_ONLY.set(True)
    try:
        yield
    finally:
        _MEMORY_ONLY.reset(token)


def _cache(kind: str) -> ProcessCache:
    caches: dict[str, ProcessCache] = current_app.extensions.setdefault(_EXTENSION, {})
    found = caches.get(kind)
    if found is None:
        from idp_bridge.extensions import db

        found = caches[kind] = ProcessCache(kind, versions_for(database_key(db.engine.url)))
    return found


def cached(kind: str, key: Hashable, load: Callable[[], V | None]) -> V | None:
    """The value of ``key`` in this app's cache of ``kind``, loading it with ``load`` when missing or stale.
    Outside an app context nothing is cached."""
    if not has_app_context():
        return load()
    if _MEMORY_ONLY.get():
        return _cache(kind).get(key, _refuse_loading)
    return _cache(kind).get(key, load)


def _refuse_loading() -> None:
    raise NotCached("not in memory, and loading is not allowed here")


def forget_all() -> None:
    """Drop this app's cached values (tests that change rows behind SQLAlchemy's back use this)."""
    for found in current_app.extensions.get(_EXTENSION, {}).values():
        found.clear()
