"""Status streams under `idp-bridge serve` wait on the worker's event loop (SPEC §15, §16): a waiting page holds
no worker thread, is woken only by its own session's change (or by the periodic safety net when a notification
is lost), and the caps still answer 429 with Retry-After. A real serve on both databases; raw sockets stand in for
the browsers' EventSource."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from tests.login.conftest import Browser
from tests.production.conftest import Served, _db_app, _setup, migrated_env, running_serve
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow


class Stream:
    """One status stream held open on a raw socket, read as the bytes arrive."""

    def __init__(self, port: int, browser: Browser, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
        self.sock.sendall(f"GET /login/{browser.pending_id}/events?ls={browser.login_session} HTTP/1.1\r\n"
                          f"Host: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, self.buffer
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}

    def next_state(self, seconds: float) -> dict[str, Any]:
        """The next ``state`` event within ``seconds`` (fails otherwise)."""
        deadline = time.monotonic() + seconds
        while True:
            for line in self.buffer.split(b"\n"):
                if line.startswith(b"data: "):
                    self.buffer = self.buffer[self.buffer.index(line) + len(line):]
                    return dict(json.loads(line[6:]))
            left = deadline - time.monotonic()
            assert left > 0, f"no state event within {seconds} s: {self.buffer!r}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(4096)
            assert chunk, "the stream ended"
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def served_small(empty_database_url: str, tmp_path: Path, simulator: LiveServer) -> Iterator[Served]:
    """One worker with a Flask pool of 2 threads; caps: 4 streams per address, 5 per worker."""
    env, port = migrated_env(empty_database_url, tmp_path, simulator.url, qr_per_ip_per_minute="1000",
                             streams_per_ip="4")
    with running_serve(env, port, "--workers", "1", "--threads", "2", "--streams-per-worker", "5") as server:
        yield server


def _pages(served: Served, client_id: str, count: int) -> list[Browser]:
    browsers = []
    for _ in range(count):
        browser = Browser(served.url)
        assert browser.start(client_id).status_code == 200
        browsers.append(browser)
    return browsers


def _answers_promptly(served: Served, client_id: str, browser: Browser) -> None:
    """Health, the token endpoint, a status poll and a new login page each answer within a second."""
    for _ in range(3):
        started = time.monotonic()
        assert requests.get(f"{served.url}/healthz", timeout=5).status_code == 200
        token = requests.post(f"{served.url}/oauth/token", timeout=5, data={
            "grant_type": "authorization_code", "code": "nope", "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:9/callback", "code_verifier": "v" * 43})
        assert token.status_code in (400, 401)
        polled = browser.session.get(f"{served.url}/login/{browser.pending_id}/status",
                                     params={"ls": browser.login_session}, timeout=5)
        assert polled.status_code == 200 and polled.json()["state"] == "waiting"
        assert time.monotonic() - started < 1.5, time.monotonic() - started
    started = time.monotonic()
    assert Browser(served.url).start(client_id).status_code == 200
    assert time.monotonic() - started < 1.5


def test_waiting_streams_hold_no_worker_thread_and_caps_still_refuse(served_small: Served,
                                                                     simulator: LiveServer) -> None:
    client_id = _setup(served_small, simulator)
    a, b, c = _pages(served_small, client_id, 3)
    held: list[Stream] = []
    try:
        # Two streams per login session; the third of a session is refused (SPEC §15).
        held += [Stream(served_small.port, a), Stream(served_small.port, a)]
        third = Stream(served_small.port, a)
        assert third.status == 429 and int(third.headers["retry-after"]) > 0
        third.close()
        # The address's cap (4): b's two streams fill it, c's is refused.
        held += [Stream(served_small.port, b), Stream(served_small.port, b)]
        refused = Stream(served_small.port, c)
        assert refused.status == 429 and "retry-after" in refused.headers
        refused.close()
        # The worker's cap (5), from another address: one more stream, then 429.
        held.append(Stream(served_small.port, c, source="127.0.0.2"))
        over = Stream(served_small.port, c, source="127.0.0.3")
        assert over.status == 429 and "retry-after" in over.headers
        over.close()
        assert [s.status for s in held] == [200] * 5
        for stream in held:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store" and stream.headers["x-accel-buffering"] == "no"
            assert stream.next_state(5)["state"] == "waiting"
        # Five streams wait on a worker whose Flask pool has two threads: everything else still answers.
        _answers_promptly(served_small, client_id, a)
        # A page that leaves gives its slot back: a new stream from that address is accepted again.
        held.pop(0).close()
        deadline = time.monotonic() + 5
        while True:
            again = Stream(served_small.port, c, source="127.0.0.3")
            if again.status == 200 or time.monotonic() > deadline:
                break
            again.close()
            time.sleep(0.2)
        held.append(again)
        assert again.status == 200 and again.next_state(5)["state"] == "waiting"
    finally:
        for stream in held:
            stream.close()


@pytest.fixture
def served_one(empty_database_url: str, tmp_path: Path, simulator: LiveServer) -> Iterator[Served]:
    """Two workers with a Flask pool of 2 threads each and room for 40 streams from one address."""
    env, port = migrated_env(empty_database_url, tmp_path, simulator.url, qr_per_ip_per_minute="1000",
                             streams_per_ip="100")
    with running_serve(env, port, "--workers", "2", "--threads", "2") as server:
        yield server


def test_forty_waiting_pages_on_four_threads_and_each_is_woken_by_its_own_change(
        served_one: Served, simulator: LiveServer) -> None:
    client_id = _setup(served_one, simulator)
    browsers = _pages(served_one, client_id, 20)
    app = _db_app(served_one)
    streams = [Stream(served_one.port, browser) for browser in browsers for _ in range(2)]
    try:
        assert [s.status for s in streams] == [200] * 40  # 10× the threads the two workers have
        for stream in streams:
            assert stream.next_state(5)["state"] == "waiting"
        _answers_promptly(served_one, client_id, browsers[0])
        # A scan wakes the two streams of its own session (whichever worker holds them) at once.
        with app.app_context():
            ticket = db.session.get(LoginSession, browsers[3].login_session).ticket  # type: ignore[union-attr]
            db.session.remove()
        started = time.monotonic()
        answer = requests.post(f"{simulator.url}/api/scan", timeout=10,
                               json={"ticket": ticket, "user": "Quinn", "action": "follow"}).json()
        assert answer["status"] == "delivered"
        for stream in streams[6:8]:
            event = stream.next_state(2)
            while event["state"] == "scanned":  # the first scan is reported before the login completes
                event = stream.next_state(2)
            assert event["state"] == "succeeded" and event["next"].startswith(f"/login/{browsers[3].pending_id}/")
        assert time.monotonic() - started < 1.0
        # A change nobody announced (a lost notification) reaches the page through the periodic safety net,
        # and so does a QR code that expired without any event.
        with app.app_context():
            db.session.execute(db.update(LoginSession).where(LoginSession.id == browsers[5].login_session)
                               .values(state="scanned", version=LoginSession.version + 1))
            db.session.execute(db.update(LoginSession).where(LoginSession.id == browsers[6].login_session)
                               .values(expires_at=LoginSession.created_at))
            db.session.commit()
            db.session.remove()
        assert streams[10].next_state(4)["state"] == "scanned"
        assert streams[12].next_state(4)["state"] == "expired"
        # The pages nobody touched are still waiting, with nothing new to say.
        assert b"data:" not in streams[0].buffer
        streams[0].sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            streams[0].sock.recv(4096)
    finally:
        for stream in streams:
            stream.close()
        with app.app_context():
            db.engine.dispose()
