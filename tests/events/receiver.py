"""A real receiving HTTP server for webhook and back-channel logout tests: records every request, answers
with a scripted sequence of statuses, optionally slowly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.live import LiveServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]


@dataclass
class Receiver:
    """``statuses``: answers in order, then 200 forever; ``delay``: seconds before answering."""

    server: LiveServer
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    hold_first: threading.Event | None = None  # the first request waits for it (a receiver "mid-delivery")
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        form = dict(request.form) if request.mimetype == "application/x-www-form-urlencoded" else {}
        with self.lock:
            self.requests.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body,
                                          form))
            status = self.statuses.pop(0) if self.statuses else 200
        if self.hold_first is not None and len(self.requests) == 1:
            self.hold_first.wait(60)
        if self.delay:
            time.sleep(self.delay)
        return Response("ok", status=status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")


def start_receiver() -> Iterator[Receiver]:
    server = LiveServer()
    receiver = Receiver(server)
    server.attach(receiver)
    server.start()
    yield receiver
    server.stop()
