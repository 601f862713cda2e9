"""The WSGI bridge of ``serve`` (``idp_bridge.streaming.wsgi_bridge``), driven as an ASGI server drives it.

These are the cases the common request never exercises: a body larger than what is read before the view runs,
a response larger than the queue's high-water mark (the view's thread must wait, not buffer without bound), a
client that leaves mid-response (the view's generator must be closed), repeated headers and the PEP 3333 environ.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from idp_bridge.streaming import wsgi_bridge
from idp_bridge.streaming.wsgi_bridge import BUFFERED_BODY, HIGH_WATER, WsgiBridge
from tests.support.loops import run_on_a_loop_of_its_own

SCOPE: dict[str, Any] = {
    "type": "http", "method": "POST", "path": "/prefix/caf\u00e9", "root_path": "/prefix",
    "query_string": b"a=1&b=2", "http_version": "1.1", "scheme": "https",
    "server": ("idp.example", 8443), "client": ("203.0.113.9", 51000),
    "headers": [(b"content-type", b"text/xml"), (b"x-many", b"one"), (b"x-many", b"two"),
                (b"content-length", b"0")],
}


def _drive(app: Any, body_chunks: list[bytes], *, leave_after: int | None = None) -> list[dict[str, Any]]:
    """Run the bridge once; ``leave_after``: the client disconnects after that many response messages."""
    sent: list[dict[str, Any]] = []
    chunks = list(body_chunks)

    async def receive() -> dict[str, Any]:
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        await asyncio.sleep(3600)  # a real server blocks here until the client leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if leave_after is not None and len(sent) >= leave_after:
            raise OSError("client went away")
        sent.append(message)

    bridge = WsgiBridge(app, threads=2)

    async def main() -> None:
        await bridge(dict(SCOPE), receive, send)

    try:
        run_on_a_loop_of_its_own(main())
    except OSError:
        pass
    finally:
        bridge.shutdown()
    return sent


def _body_of(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_environ_follows_pep_3333() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Out", "1")])
        return [b"ok"]

    sent = _drive(app, [b""])
    assert sent[0] == {"type": "http.response.start", "status": 201,
                       "headers": [(b"content-type", b"text/plain"), (b"x-out", b"1")]}
    assert _body_of(sent) == b"ok" and sent[-1]["more_body"] is False
    assert seen["SCRIPT_NAME"] == "/prefix"
    assert seen["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")  # WSGI's bytes-in-str
    assert seen["QUERY_STRING"] == "a=1&b=2"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"], seen["wsgi.url_scheme"]) == ("idp.example", "8443", "https")
    assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"]) == ("203.0.113.9", "51000")
    assert seen["CONTENT_TYPE"] == "text/xml" and seen["CONTENT_LENGTH"] == "0"
    assert seen["HTTP_X_MANY"] == "one,two"  # RFC 9110 §5.3: repeated fields combine with commas
    assert seen["asgi.scope"]["path"] == SCOPE["path"]


def test_a_body_larger_than_the_buffer_is_read_whole() -> None:
    pieces = [bytes([65 + i]) * 40_000 for i in range(5)]  # 200 kB in five messages
    assert sum(map(len, pieces)) > BUFFERED_BODY
    received: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        received.append(stream.read(10))
        received.append(stream.read())
        start_response("200 OK", [])
        return [b"done"]

    sent = _drive(app, pieces)
    assert b"".join(received) == b"".join(pieces)
    assert _body_of(sent) == b"done"


def test_readline_across_messages() -> None:
    lines: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        lines.extend(environ["wsgi.input"])
        start_response("200 OK", [])
        return []

    _drive(app, [b"first\nsec", b"ond\n", b"third"])
    assert lines == [b"first\n", b"second\n", b"third"]


def test_a_large_response_streams_with_bounded_queue(monkeypatch: Any) -> None:
    monkeypatch.setattr(wsgi_bridge, "HIGH_WATER", 64 * 1024)
    chunk = b"x" * 16 * 1024
    peak = 0

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        for _ in range(200):  # 3.2 MB
            yield chunk

    original = wsgi_bridge._Exchange.post

    def post(self: Any, *messages: dict[str, Any]) -> None:
        nonlocal peak
        original(self, *messages)
        peak = max(peak, self._queued)

    monkeypatch.setattr(wsgi_bridge._Exchange, "post", post)
    sent = _drive(app, [b""])
    assert len(_body_of(sent)) == 200 * len(chunk)
    assert peak <= 64 * 1024 + len(chunk)  # the thread waited for the client instead of queueing 3.2 MB
    assert HIGH_WATER >= 1024 * 1024  # the default: a megabyte in flight per response at most


def test_a_client_that_leaves_closes_the_view() -> None:
    closed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"y" * 512 * 1024
        finally:
            closed.set()

    sent = _drive(app, [b""], leave_after=3)
    assert len(sent) == 3
    assert closed.wait(5), "the view's generator kept running after the client left"


def test_an_error_before_the_response_reaches_the_server() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("view failed")

    bridge = WsgiBridge(app, threads=1)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing may be sent")

    try:
        run_on_a_loop_of_its_own(bridge(dict(SCOPE), receive, send))
    except RuntimeError as error:
        assert str(error) == "view failed"
    else:
        raise AssertionError("the view's error was swallowed")
    finally:
        bridge.shutdown()


class _CountingLoop:
    """Counts the view thread's wake-ups of the loop (``call_soon_threadsafe``) during one exchange."""

    def __init__(self) -> None:
        self.calls = 0

    def install(self, monkeypatch: Any) -> None:
        original = asyncio.BaseEventLoop.call_soon_threadsafe
        counter = self

        def counted(loop: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name.startswith("idpb-wsgi"):
                counter.calls += 1
            return original(loop, *args, **kwargs)

        monkeypatch.setattr(asyncio.BaseEventLoop, "call_soon_threadsafe", counted)


def test_an_ordinary_response_wakes_the_loop_twice(monkeypatch: Any) -> None:
    """The headers travel with the body and the body's end with the view's end (SPEC §16: each wake-up is a
    hand-off of the GIL between the view's thread and the loop); was five (start, body, end, done, future)."""
    counting = _CountingLoop()
    counting.install(monkeypatch)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("302 Found", [("Location", "https://rp.example/cb?code=x")])
        return [b"redirecting"]

    sent = _drive(app, [b""])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert sent[0]["status"] == 302 and _body_of(sent) == b"redirecting"
    assert counting.calls <= 2, counting.calls


def test_the_headers_wait_for_the_first_non_empty_chunk() -> None:
    """PEP 3333 ("Buffering and Streaming"): the headers go out with the first non-empty body chunk, so a view
    that fails before it produces one can still get an error response instead of a half-sent 200."""
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b""
        raise RuntimeError("failed before any body")

    bridge = WsgiBridge(app, threads=1)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        run_on_a_loop_of_its_own(bridge(dict(SCOPE), receive, send))
    except RuntimeError as error:
        assert str(error) == "failed before any body"
    else:
        raise AssertionError("the view's error was swallowed")
    finally:
        bridge.shutdown()
    assert sent == []  # nothing started: the server is free to answer 500


def test_an_empty_body_still_sends_the_headers() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    sent = _drive(app, [b""])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 204 and sent[1]["more_body"] is False
