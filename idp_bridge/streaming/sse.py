"""One status stream on the event loop: send the state now and on every change, until the session is over, the
client leaves, the stream's life ends or the worker stops.

A comment line (``:``) every :data:`HEARTBEAT_SECONDS` keeps proxies from closing an idle stream (nginx's
``proxy_read_timeout`` is 60 s by default). A stream lives :data:`STREAM_SECONDS` — the default QR lifetime —
and then ends; the browser reconnects after the ``retry`` delay (WHATWG HTML §9.2.3), which re-checks the
page's ownership and caps. Re-reads of the database run on the loop with an asynchronous connection where there
is one (PostgreSQL, :mod:`idp_bridge.asyncdb`), else in a small thread pool; never a blocking read on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from typing import Any

from idp_bridge.login.streams import SessionView, Snapshot, StreamPlan, delivered, sse_event
from idp_bridge.streaming.waiters import Waiter, Waiters

log = logging.getLogger(__name__)
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STREAM_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0
RETRY = b"retry: 1000\n\n"
COMMENT = b":\n\n"


async def _until_disconnect(receive: Receive, waiter: Waiter) -> None:
    """Mark the waiter gone (and wake it) when the client closes the connection."""
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            waiter.gone = True
            waiter.wake()
            return


async def _quickly(plan: StreamPlan, quick: QuickRead | None) -> Snapshot | None:
    """The snapshot from a read on the loop, or None when the threaded read must decide."""
    if quick is None or plan.view is None:
        return None
    try:
        columns = await quick(plan.session_id)
    except Exception as exc:  # the threaded read reports outages (and ends the stream) as before
        log.debug("status stream re-read on the loop failed (%s)", type(exc).__name__)
        return None
    return plan.view(columns) if columns is not None else None


async def _body(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


QuickRead = Callable[[str], Awaitable[SessionView | None]]


async def run(plan: StreamPlan, start: Message, receive: Receive, send: Send, waiters: Waiters,
              executor: Executor, stream_seconds: float = STREAM_SECONDS,
              heartbeat_seconds: float = HEARTBEAT_SECONDS, quick: QuickRead | None = None) -> int:
    """Run ``plan``'s stream after sending ``start`` (the view's status and headers); returns the bytes sent.
    Releases the plan's caps whatever happens.

    On a wake-up the session is re-read with ``quick`` (a read on the loop, ``login.streams.read_view``) when
    given, so the page's update needs no pool thread; the plan's threaded ``read`` is the fallback for whatever
    that read cannot settle (an outage, a session gone or to be expired)."""
    loop = asyncio.get_running_loop()
    waiter = Waiter(plan.session_id, plan.seen)
    watcher = loop.create_task(_until_disconnect(receive, waiter))
    sent = 0
    try:
        await send(start)
        del start  # its headers are sent: not held for the stream's life (5,000 waiting pages, SPEC §16)
        await _body(send, RETRY)
        sent += len(RETRY)
        snapshot = plan.first
        deadline = loop.time() + stream_seconds
        waiters.add(waiter)
        while True:
            if snapshot.version != waiter.seen:
                waiter.seen = snapshot.version
                delivered(snapshot)
                data = sse_event(snapshot.payload).encode()
                await _body(send, data)
                sent += len(data)
            if snapshot.finished:
                return sent
            while True:  # wait for a wake-up, sending a comment now and then
                left = deadline - loop.time()
                if left <= 0 or waiter.gone or waiters.closing:
                    return sent
                try:
                    async with asyncio.timeout(min(heartbeat_seconds, left)):
                        await waiter.wait()
                except TimeoutError:
                    if loop.time() < deadline:
                        await _body(send, COMMENT)
                        sent += len(COMMENT)
                    continue
                if waiter.gone or waiters.closing:
                    return sent
                break
            read = await _quickly(plan, quick)
            if read is None:
                read = await loop.run_in_executor(executor, plan.read)
            if read is None:
                return sent
            snapshot = read
    finally:
        waiters.discard(waiter)
        watcher.cancel()
        plan.release()
        with contextlib.suppress(Exception):  # the client may be gone: nothing more to say to it
            await send({"type": "http.response.body", "body": b"", "more_body": False})
