"""A minimal HTTP/1.1 client over a plain socket, for hostile-input tests.

``requests`` and ``http.client`` refuse to send some of what an attacker can (raw control bytes in header
values, arbitrary bytes in the request target) and cost more per request than a hostile-input battery of
tens of thousands of requests can afford. This client sends exactly the bytes it is given, keeps the
connection alive (RFC 9112 §9.3) and reads just enough of the answer: Content-Length or chunked bodies
(RFC 9112 §6–7), and only the first event of a ``text/event-stream`` answer before dropping the connection.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

Header = tuple[str | bytes, str | bytes]
EVENT_STREAM_READ_SECONDS = 2.0


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    request_line: bytes = b""
    streamed: bool = False
    header_list: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class ConnectionLost(ConnectionError):
    """The server closed the connection before a complete answer."""


class RawClient:
    """One keep-alive connection to ``host:port``; reconnects by itself when the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buffer = None, b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        return self._sock

    def request(self, method: str, target: str | bytes, headers: list[Header] | None = None,
                body: bytes = b"") -> RawResponse:
        """Send one request and read its answer; ``target`` goes on the request line byte for byte."""
        lines = [_b(method) + b" " + _b(target) + b" HTTP/1.1", b"Host: " + _b(f"{self.host}:{self.port}")]
        lines += [_b(name) + b": " + _b(value) for name, value in headers or []]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: " + str(len(body)).encode())
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
        for attempt in (1, 2):
            fresh = self._sock is None
            try:
                self._connect().sendall(raw)
                response = self._read_response(method)
            except (ConnectionLost, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt == 2:
                    raise
                continue  # the server had closed an idle keep-alive connection: retry once on a new one
            response.request_line = lines[0]
            return response
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionLost("connection closed by the server")
        self._buffer += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_response(self, method: str) -> RawResponse:
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        status = int(status_line.split()[1])
        header_list = []
        for line in header_lines:
            name, _, value = line.decode("latin-1").partition(":")
            header_list.append((name.strip(), value.strip()))
        headers = {name.lower(): value for name, value in header_list}
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif headers.get("content-type", "").startswith("text/event-stream"):
            return self._first_event(status, headers, header_list)
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(int(headers["content-length"]))
        else:
            body = self._read_to_close()
        if headers.get("connection", "").lower() == "close" or status_line.startswith(b"HTTP/1.0"):
            self.close()
        return RawResponse(status, headers, body, header_list=header_list)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self._read_until(b"\r\n")  # no trailers are expected
                return body
            body += self._read_exactly(size)
            self._read_exactly(2)

    def _read_to_close(self) -> bytes:
        try:
            while True:
                self._fill()
        except ConnectionLost:
            pass
        body, self._buffer = self._buffer, b""
        self.close()
        return body

    def _first_event(self, status: int, headers: dict[str, str], header_list: list[tuple[str, str]]
                     ) -> RawResponse:
        """A status stream lasts up to 25 s: keep what arrives within a short while, then hang up."""
        assert self._sock is not None
        self._sock.settimeout(EVENT_STREAM_READ_SECONDS)
        try:
            while b"data:" not in self._buffer:
                self._fill()
        except (TimeoutError, ConnectionLost):
            pass
        body = self._buffer
        self.close()
        return RawResponse(status, headers, body, streamed=True, header_list=header_list)
