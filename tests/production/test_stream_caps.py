"""SPEC §15: status streams can't starve the server. A real `idp-bridge serve` (2 workers, the default threads)
on PostgreSQL; one address opens 60 status streams and holds them; health and token still answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import throwaway_pg_database
from tests.login.conftest import Browser
from tests.production.conftest import Served, _setup, migrated_env, running_serve
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
def served_pg(tmp_path: Path, simulator: LiveServer) -> Iterator[Served]:
    with throwaway_pg_database("idp_streams") as url:
        env, port = migrated_env(url, tmp_path, simulator.url, qr_per_ip_per_minute="1000")
        with running_serve(env, port, "--workers", "2") as server:
            yield server


def _open_stream(port: int, path: str, cookie: str) -> tuple[socket.socket, int]:
    """Send the request and read the status line; the socket stays open (the stream is held)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    status_line = b""
    while not status_line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        status_line += chunk
    return sock, int(status_line.split()[1])


def test_sixty_held_streams_from_one_address_leave_health_and_token_answering(
        served_pg: Served, simulator: LiveServer) -> None:
    client_id = _setup(served_pg, simulator)
    browsers = []
    for _ in range(20):
        browser = Browser(served_pg.url)
        assert browser.start(client_id).status_code == 200
        browsers.append(browser)
    held: list[socket.socket] = []
    statuses: list[int] = []
    try:
        for i in range(60):
            browser = browsers[i % 20]
            cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
            sock, status = _open_stream(served_pg.port, f"/login/{browser.pending_id}/events?ls="
                                        f"{browser.login_session}", cookie)
            held.append(sock)
            statuses.append(status)
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) >= 20  # 3 streams per login session: the third of each is refused
        for _ in range(3):
            started = time.monotonic()
            assert requests.get(f"{served_pg.url}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            token = requests.post(f"{served_pg.url}/oauth/token", timeout=5, data={
                "grant_type": "authorization_code", "code": "nope", "client_id": client_id,
                "redirect_uri": "http://127.0.0.1:9/callback", "code_verifier": "v" * 43})
            assert token.status_code in (400, 401) and time.monotonic() - started < 1.0
        # A refused page polls instead: the status answers at once.
        polled = browsers[0].session.get(f"{served_pg.url}/login/{browsers[0].pending_id}/status",
                                         params={"ls": browsers[0].login_session}, timeout=5)
        assert polled.status_code == 200 and polled.json()["state"] == "waiting"
    finally:
        for sock in held:
            sock.close()
