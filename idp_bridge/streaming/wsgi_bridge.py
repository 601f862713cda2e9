"""Run the WSGI (Flask) app from the ASGI server with as few hops between the event loop and the pool as possible.

A request crosses from the event loop to a pool thread and back. A general adapter such as a2wsgi pays one
blocking round trip through the loop for each piece: reading the body, starting the response, each body chunk
and the end of the body, each time waking the loop and then parking the thread until the loop has taken it.
For this app's requests (a few hundred bytes in, a few kilobytes out) those round trips cost more CPU than the
view. Here:

* the body is read on the loop before the thread starts, up to :data:`BUFFERED_BODY` bytes; a larger body
  (which the input gate refuses anyway, SPEC §15) is read on demand from the thread as before;
* the thread hands response messages to the loop without waiting (``call_soon_threadsafe``), in batches, so a
  whole response usually costs two wake-ups (:class:`_Exchange`); it waits only when more than
  :data:`HIGH_WATER` bytes are queued, so a long download still streams with bounded memory.

The environ follows PEP 3333 and the ASGI HTTP scope (``asgi.scope`` is kept in it, as the stream handoff and
the access log read the scope through it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from idp_bridge.streaming.sse import Message, Receive, Send

BUFFERED_BODY = 64 * 1024  # read on the loop before the view runs
HIGH_WATER = 1024 * 1024  # queued response bytes at which the view's thread waits for the client
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DONE: Message = {"type": "idpb.done"}


class _Body:
    """``wsgi.input``: what was read on the loop, then (rarely) the rest pulled from the loop on demand."""

    def __init__(self, data: bytes, more: bool, loop: asyncio.AbstractEventLoop | None,
                 receive: Receive | None) -> None:
        self._buffer = bytearray(data)
        self._more = more
        self._loop, self._receive = loop, receive

    def _pull(self) -> None:
        assert self._loop is not None and self._receive is not None, "a body read whole has nothing to pull"
        message: Message = asyncio.run_coroutine_threadsafe(_awaited(self._receive), self._loop).result()
        self._buffer.extend(message.get("body", b""))
        self._more = bool(message.get("more_body", False)) and message.get("type") == "http.request"

    def read(self, size: int = -1) -> bytes:
        while self._more and (size < 0 or len(self._buffer) < size):
            self._pull()
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or not self._more or (0 <= size <= len(self._buffer)):
                break
            self._pull()
        cut = end + 1 if end >= 0 else len(self._buffer)
        if size >= 0:
            cut = min(cut, size)
        data = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


async def _awaited(receive: Receive) -> Message:
    return await receive()


def environ_of(scope: MutableMapping[str, Any], body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of a request whose whole body has been read already."""
    return _environ(scope, _Body(body, False, None, None))


def _environ(scope: MutableMapping[str, Any], body: _Body) -> dict[str, Any]:
    """PEP 3333 environ for an ASGI HTTP scope (paths as latin-1 "bytes in str", as WSGI requires)."""
    script_name = scope.get("root_path", "").encode("utf-8").decode("latin-1")
    path_info = scope["path"].encode("utf-8").decode("latin-1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name):]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "asgi.scope": scope,
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[key] = environ[key] + "," + value if key in environ else value  # RFC 9110 §5.3
    return environ


class _Exchange:
    """One request's response, passed from the view's thread to the loop.

    Messages the thread posts while the loop has not yet taken the previous ones travel together: the loop is
    woken once per batch, not once per message (each wake-up is a cross-thread hand-off of the GIL). The
    response's start is held until the first non-empty body chunk or the end of the body, which is when PEP 3333
    lets a server send the headers anyway, so an ordinary response costs the loop two wake-ups: the headers
    with the body, then the end of the body with the end of the view."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.started = False  # the response's start has gone to the loop
        self.gone = False
        self.error: BaseException | None = None  # what the view raised, re-raised on the loop
        self._held_start: Message | None = None
        self._pending: list[Message] = []
        self._wake_scheduled = False
        self._lock = threading.Lock()
        self._queued = 0
        self._room = threading.Condition()

    def post(self, *messages: Message) -> None:
        """From the view's thread: queue ``messages`` for the loop; wait only while too much is queued."""
        if self.gone:
            raise ConnectionResetError("the client has gone")  # ends a streaming view's generator
        self._hand_over(messages)
        size = sum(len(message.get("body", b"")) for message in messages)
        if size:
            with self._room:
                self._queued += size
                while self._queued > HIGH_WATER and not self.gone:
                    self._room.wait(1.0)

    def _hand_over(self, messages: Iterable[Message]) -> None:
        with self._lock:
            self._pending.extend(messages)
            wake, self._wake_scheduled = not self._wake_scheduled, True
        if wake:
            self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        """On the loop: move what the thread handed over into the queue the loop reads."""
        with self._lock:
            batch, self._pending, self._wake_scheduled = self._pending, [], False
        for message in batch:
            self.queue.put_nowait(message)

    def sent(self, message: Message) -> None:
        """On the loop, after ``message`` went out: make room for the thread."""
        size = len(message.get("body", b""))
        if size:
            with self._room:
                self._queued -= size
                self._room.notify_all()

    def abandon(self) -> None:
        """On the loop: the response can no longer be sent (the client left); release the thread."""
        with self._room:
            self.gone = True
            self._room.notify_all()

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])  # PEP 3333: too late to change the status
        self._held_start = {"type": "http.response.start", "status": int(status.split(" ", 1)[0]),
                            "headers": [(k.strip().lower().encode("latin-1"), v.strip().encode("latin-1"))
                                        for k, v in headers]}
        return self.write

    def _with_start(self, *messages: Message) -> tuple[Message, ...]:
        """``messages``, preceded by the held start of the response if it has not gone yet."""
        start, self._held_start = self._held_start, None
        if start is None:
            return messages
        self.started = True
        return (start, *messages)

    def write(self, chunk: bytes) -> None:
        if chunk:
            self.post(*self._with_start({"type": "http.response.body", "body": chunk, "more_body": True}))

    def finish(self) -> None:
        """From the view's thread, when it is done (or failed): the end of the body, if a response started,
        and the end of the exchange, in one hand-over."""
        ending: tuple[Message, ...] = (_DONE,)
        if self.error is None and (self.started or self._held_start is not None):
            ending = self._with_start({"type": "http.response.body", "body": b"", "more_body": False}, _DONE)
        self._hand_over(ending)


class WsgiBridge:
    """ASGI 3 application running ``app`` (WSGI) in a pool of ``threads`` threads."""

    def __init__(self, app: WsgiApp, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="idpb-wsgi")

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        data, more = bytearray(), True
        while more and len(data) < BUFFERED_BODY:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its body
                return
            data.extend(message.get("body", b""))
            more = bool(message.get("more_body", False))
        exchange = _Exchange(loop)
        environ = _environ(scope, _Body(bytes(data), more, loop, receive))
        context = contextvars.copy_context()
        # Not run_in_executor: its future would cost the loop one more wake-up; the view's end (and its error)
        # arrives with the last batch of messages instead.
        done = self.executor.submit(context.run, self._run, environ, exchange)
        try:
            while True:
                message = await exchange.queue.get()
                if message is _DONE:
                    break
                await send(message)
                exchange.sent(message)
        except BaseException:
            exchange.abandon()
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(done)  # the thread stops at its next write; its own error is not the news
            raise
        if exchange.error is not None:
            raise exchange.error  # what the view raised

    def _run(self, environ: dict[str, Any], exchange: _Exchange) -> None:
        try:
            iterable = self.app(environ, exchange.start_response)
            try:
                for chunk in iterable:
                    exchange.write(chunk)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except BaseException as error:
            exchange.error = error
        finally:
            exchange.finish()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False)
