"""The waiting status streams of one worker process, and what wakes them.

A wake-up names the login session that changed (:mod:`idp_bridge.login.notify` relays other processes'
changes from PostgreSQL ``NOTIFY``, Redis or local datagrams), so only that session's pages re-read the
database: thousands of waiting pages cost nothing while nothing happens to them. A safety net reads the
versions of all waited-on sessions in a few batched queries every couple of seconds, so a lost notification
(a listener reconnecting, a failed publish) or a QR that expired without any event costs at most that interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import Executor
from datetime import datetime

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idp_bridge.extensions import db
from idp_bridge.login import notify
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import LIVE
from idp_bridge.timeutil import utcnow

log = logging.getLogger(__name__)
SAFETY_NET_SECONDS = 2.0
BATCH = 500  # ids per IN (...) list: well inside every database's parameter limit


class Waiter:
    """One waiting stream: what it has already sent, and its wake-up.

    Not an ``asyncio.Event`` (an object with a dictionary and a deque, ≈ 0.7 KB): a flag, and a future only
    while the stream waits; thousands of these live in a worker at once (SPEC §16)."""

    __slots__ = ("session_id", "seen", "gone", "_woken", "_future")

    def __init__(self, session_id: str, seen: int) -> None:
        self.session_id = session_id
        self.seen = seen
        self.gone = False  # the client left
        self._woken = False
        self._future: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """On the loop: end the current :meth:`wait`, or the next one if none is running."""
        self._woken = True
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self) -> None:
        """Until woken (at once when woken since the last wait); consumes the wake-up. Cancellable (a
        timeout around it leaves a later wake-up for the next wait)."""
        if not self._woken:
            self._future = asyncio.get_running_loop().create_future()
            try:
                await self._future
            finally:
                self._future = None
        self._woken = False


def stale_sessions(app: Flask, seen: dict[str, set[int]]) -> set[str]:
    """Of the sessions in ``seen`` (id → versions its pages have), those whose row differs: another version,
    gone, or live past its expiry (the re-read turns it ``expired``). Runs in a thread."""
    stale: set[str] = set()
    ids = list(seen)
    now = utcnow()
    with app.app_context():
        try:
            for start in range(0, len(ids), BATCH):
                chunk = ids[start:start + BATCH]
                rows = db.session.execute(
                    db.select(LoginSession.id, LoginSession.version, LoginSession.state, LoginSession.expires_at)
                    .where(LoginSession.id.in_(chunk))).all()
                found: dict[str, tuple[int, str, datetime]] = {r[0]: (int(r[1]), r[2], r[3]) for r in rows}
                for session_id in chunk:
                    row = found.get(session_id)
                    if row is None or seen[session_id] != {row[0]} or (row[1] in LIVE and row[2] <= now):
                        stale.add(session_id)
        except SQLAlchemyError as exc:  # an outage: the pages' own re-reads end their streams
            log.warning("status stream safety net: database unavailable (%s)", type(exc).__name__)
            return set(ids)
        finally:
            db.session.remove()
    return stale


class Waiters:
    """The streams waiting in this process, by login session; lives on the worker's event loop."""

    def __init__(self, app: Flask, executor: Executor, interval: float = SAFETY_NET_SECONDS) -> None:
        self._app = app
        self._executor = executor
        self._interval = interval
        self._by_session: dict[str, set[Waiter]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._check_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def count(self) -> int:
        return sum(len(group) for group in self._by_session.values())

    def start(self) -> None:
        """On the loop: subscribe to wake-ups and start the safety net."""
        self._loop = asyncio.get_running_loop()
        notify.HUB.subscribe(self._from_any_thread)
        self._task = self._loop.create_task(self._safety_net())

    async def stop(self) -> None:
        notify.HUB.unsubscribe(self._from_any_thread)
        self.close_all()
        if self._task is not None:
            self._task.cancel()

    def add(self, waiter: Waiter) -> None:
        self._by_session.setdefault(waiter.session_id, set()).add(waiter)

    def discard(self, waiter: Waiter) -> None:
        group = self._by_session.get(waiter.session_id)
        if group is not None:
            group.discard(waiter)
            if not group:
                del self._by_session[waiter.session_id]

    def close_all(self) -> None:
        """End every stream now (the worker is stopping): the pages reconnect to a live worker."""
        self.closing = True
        for group in self._by_session.values():
            for waiter in group:
                waiter.wake()

    def _from_any_thread(self, session_id: str | None) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.wake, session_id)

    def wake(self, session_id: str | None) -> None:
        """On the loop: wake the pages of ``session_id``; None (unknown) runs the safety net at once."""
        if session_id is None:
            self._check_now.set()
            return
        self._wake_all(self._by_session.get(session_id, ()))

    @staticmethod
    def _wake_all(waiters: Iterable[Waiter]) -> None:
        for waiter in waiters:
            waiter.wake()

    async def _safety_net(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(self._interval):
                    await self._check_now.wait()
            except TimeoutError:
                pass
            self._check_now.clear()
            if not self._by_session:
                continue
            seen = {sid: {w.seen for w in group} for sid, group in self._by_session.items()}
            try:
                stale = await loop.run_in_executor(self._executor, stale_sessions, self._app, seen)
            except Exception:  # never let the safety net die; the next round tries again
                log.exception("status stream safety net failed")
                continue
            for session_id in stale:
                self._wake_all(self._by_session.get(session_id, ()))

