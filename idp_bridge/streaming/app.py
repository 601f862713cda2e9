"""The ASGI application ``idp-bridge serve`` runs: the Flask app in a thread pool, status streams on the loop.

Every request goes through the Flask app (:mod:`~idp_bridge.streaming.wsgi_bridge`, a bounded thread pool), so the input
gate, the security headers, ``IDP_BRIDGE_TRUST_PROXY`` (werkzeug's ProxyFix; the server itself trusts no
``X-Forwarded-*``) and the stream caps apply to every route alike. A GET request carries a
:class:`~idp_bridge.login.streams.Handoff` in its scope; when the status-stream view accepts a stream it leaves
the stream's plan there and returns its headers, and this app then runs the stream as a coroutine
(:mod:`idp_bridge.streaming.sse`) after the pool thread has been given back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from idp_bridge import asyncdb
from idp_bridge.config import settings_of
from idp_bridge.extensions import db
from idp_bridge.login import notify
from idp_bridge.login.streams import DEFAULT_PER_WORKER, HANDOFF_KEY, SLOTS, Handoff, read_view, view_statement
from idp_bridge.oidc.lane import BODY_LIMIT as LANE_BODY_LIMIT
from idp_bridge.oidc.lane import Lane
from idp_bridge.oidc.lane.http import Answer
from idp_bridge.streaming import access_log, sse
from idp_bridge.streaming.sse import Message, Receive, Send
from idp_bridge.streaming.waiters import Waiters
from idp_bridge.streaming.wsgi_bridge import WsgiBridge

log = logging.getLogger(__name__)
CLIENT_KEY = "idpb.client"  # the client address as the app saw it, for the access log
READ_THREADS = 4  # stream re-reads and the safety net: short queries, rare once a page waits


class _RecordClient:
    """WSGI wrapper that copies the client address the app settled on (after ProxyFix) into the ASGI scope."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        finally:
            scope = environ.get("asgi.scope")
            if isinstance(scope, dict):
                scope[CLIENT_KEY] = environ.get("REMOTE_ADDR", "-")


def _without_length(start: Message) -> Message:
    """A stream's response start without the ``Content-Length`` of the view's empty body."""
    start["headers"] = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
    return start


class ServingApp:
    """ASGI 3 application wrapping the Flask ``app`` (one per worker process)."""

    def __init__(self, app: Flask, threads: int, streams_per_worker: int = DEFAULT_PER_WORKER) -> None:
        self.flask = app
        self.threads = threads
        self._wsgi = WsgiBridge(_RecordClient(app), threads)
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="idpb-stream-read")
        self.waiters = Waiters(app, self._reads)
        self.pool = asyncdb.pool_for(app)  # the worker's asynchronous connections (PostgreSQL), on its loop
        self.lane = Lane.for_app(app, self.pool)
        self._quick = self._quick_read(app)
        SLOTS.configure_total(streams_per_worker)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # anything else (websocket) is not ours: uvicorn closes it

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                settings = settings_of(self.flask)
                notify.HUB.ensure_listener(settings.database_url, settings.redis_url)
                self.waiters.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.waiters.stop()
                if self.pool is not None:
                    await self.pool.close()
                self._reads.shutdown(wait=False)
                self._wsgi.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if self.lane is not None and self.lane.takes(scope):
            answer, receive = await self._lane(scope, receive)
            if answer is not None:
                for message in answer.messages():
                    await send(message)
                access_log.write(answer.client or "-", str(scope.get("method")), str(scope.get("path")),
                                 answer.status, len(answer.body), time.perf_counter() - started)
                return
        handoff = Handoff()
        if scope.get("method") == "GET":
            scope[HANDOFF_KEY] = handoff
        held: list[Message] = []
        status, sent = 500, 0

        async def forward(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if handoff.plan is not None:  # an accepted stream: its headers go out when the stream starts
                    held.append(message)
                    return
            elif held:
                return  # the view's empty body of an accepted stream
            else:
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self._wsgi(scope, receive, forward)
        except BaseException:
            if handoff.plan is not None:
                handoff.plan.release()
            raise
        if handoff.plan is not None:
            if held:
                # Handed over, not kept here: the stream lets go of the headers once they are sent (≈ 1.8 KB of
                # the ≈ 20 KB a worker holds per waiting page).
                sent = await sse.run(handoff.plan, _without_length(held.pop()), receive, send, self.waiters,
                                     self._reads, quick=self._quick)
            else:  # the view accepted but its response never started (cannot happen with Flask): give back
                handoff.plan.release()
        client = scope.get(CLIENT_KEY) or (scope.get("client") or ("-",))[0]
        access_log.write(str(client), str(scope.get("method")), str(scope.get("path")), status, sent,
                         time.perf_counter() - started)

    def _quick_read(self, app: Flask) -> sse.QuickRead | None:
        """A waiting page's re-read on the loop (``login.streams.read_view``), where the worker has a pool."""
        pool = self.pool
        if pool is None:
            return None
        with app.app_context():
            sql = view_statement(db.engine.dialect)
        return lambda session_id: read_view(pool, sql, session_id)

    async def _lane(self, scope: MutableMapping[str, Any], receive: Receive) -> tuple[Answer | None, Receive]:
        """The SSO lane's answer (:mod:`idp_bridge.oidc.lane`), or None and a ``receive`` that hands the threaded
        path the body again from its start."""
        assert self.lane is not None
        read: list[Message] = []
        body, complete = bytearray(), False
        while len(body) <= LANE_BODY_LIMIT:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break
        answer = await self.lane.answer(scope, bytes(body)) if complete and len(body) <= LANE_BODY_LIMIT else None
        if answer is not None:
            return answer, receive

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        return None, replay

    def close_streams(self) -> None:
        """End every open stream now (graceful stop): the pages reconnect to a live worker."""
        self.waiters.close_all()
