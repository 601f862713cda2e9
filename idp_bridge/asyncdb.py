"""A small pool of asynchronous psycopg connections for one worker's event loop (PostgreSQL only).

What runs on the loop itself — the SSO lane (``oidc.lane``), a waiting page's re-read of its login session
(``login.streams``) — must never block it: connections are psycopg's ``AsyncConnection`` in autocommit (every
statement is its own transaction). The pool holds at most ``size`` connections; a caller that finds none free
waits for one. A connection that fails is closed and dropped (the next caller opens a new one), and the failure
goes back to the caller, which then leaves the work to the threaded path: that path has the retries, the outage
answers (503) and the pool-wide invalidation of SQLAlchemy (``idp_bridge.dbpool``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy.engine import make_url

from idp_bridge.config import settings_of

CONNECT_TIMEOUT_SECONDS = 5
#: called with each statement's SQL before it is sent (the tests' statement counts)
Observer = Callable[[str], None]


def conninfo(database_url: str) -> str:
    """A libpq connection string for SQLAlchemy's ``postgresql+psycopg://`` URL (query options kept)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def pool_for(app: Flask) -> AsyncPool | None:
    """The worker's pool for ``app``'s database, or None when it is not PostgreSQL."""
    settings = settings_of(app)
    if not settings.database_url.startswith("postgresql"):
        return None
    return AsyncPool(conninfo(settings.database_url), settings.db_pool_size)


class AsyncPool:
    """At most ``size`` autocommit connections to ``dsn``, handed out one request at a time."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.size = size
        self.observers: list[Observer] = []
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0
        self._freed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._freed is None:  # made on the loop that uses it
            self._freed = asyncio.Condition()
        return self._freed

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for the block; dropped (not returned) when the database failed or the task was
        cancelled in the block, since its state is unknown then."""
        freed = self._condition()
        async with freed:
            while not self._idle and self._open >= self.size:
                await freed.wait()
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._open += 1
        keep = False
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                             connect_timeout=CONNECT_TIMEOUT_SECONDS)
            try:
                yield conn
                keep = True
            except (psycopg.Error, asyncio.CancelledError):
                raise
            except BaseException:
                keep = True
                raise
        finally:
            async with freed:
                if keep and conn is not None and not conn.closed:
                    self._idle.append(conn)
                else:
                    self._open -= 1
                    if conn is not None:
                        await conn.close()
                freed.notify()

    async def rows(self, conn: psycopg.AsyncConnection[Any], sql: str,
                   params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        for observe in self.observers:
            observe(sql)
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall()

    async def run(self, conn: psycopg.AsyncConnection[Any], sql: str, params: Mapping[str, Any]) -> int:
        for observe in self.observers:
            observe(sql)
        cursor = await conn.execute(sql, params)
        return int(cursor.rowcount)

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()
