"""SPEC §15 stream caps: per login session, per client address, per process; excess → 429 + Retry-After,
and the JSON status answers in their place."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from flask import Flask

from idp_bridge.login.streams import PER_SESSION, Slots
from tests.login.conftest import Browser


def test_slots_count_per_session_per_address_and_in_total() -> None:
    slots = Slots(total_limit=3)
    assert slots.acquire("s1", "a", 10) and slots.acquire("s1", "a", 10)
    assert not slots.acquire("s1", "a", 10)  # PER_SESSION == 2
    assert slots.acquire("s2", "a", 10)
    assert not slots.acquire("s3", "b", 10)  # total
    slots.release("s1", "a")
    assert slots.acquire("s3", "b", 10) and slots.open == 3
    per_address = Slots(total_limit=100)
    assert per_address.acquire("x", "ip", 1) and not per_address.acquire("y", "ip", 1)
    assert PER_SESSION == 2


def test_slots_stay_below_the_thread_count() -> None:
    slots = Slots()
    for threads in (1, 4, 16, 64, 300):
        slots.configure_for_threads(threads)
        assert 1 <= slots.total_limit and (threads == 1 or slots.total_limit < threads)


def _hold(base: str, browser: Browser) -> tuple[socket.socket, bytes]:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
    sock.sendall(f"GET /login/{browser.pending_id}/events?ls={browser.login_session} HTTP/1.1\r\nHost: x\r\n"
                 f"Cookie: {cookie}\r\n\r\n".encode())
    return sock, sock.recv(400)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "streams_per_ip": 3}


def test_a_third_stream_per_session_and_streams_beyond_the_address_cap_get_429(live_url: str,
                                                                             rp: tuple[str, str]) -> None:
    first, second = Browser(live_url), Browser(live_url)
    first.start(rp[0])
    second.start(rp[0])
    held = []
    try:
        for _ in range(2):
            sock, head = _hold(live_url, first)
            held.append(sock)
            assert head.startswith(b"HTTP/1.1 200")
        sock, head = _hold(live_url, first)
        held.append(sock)
        assert head.startswith(b"HTTP/1.1 429") and b"Retry-After: 5" in head
        sock, head = _hold(live_url, second)  # the address's third stream: allowed (cap 3)
        held.append(sock)
        assert head.startswith(b"HTTP/1.1 200")
        sock, head = _hold(live_url, second)  # the fourth: refused though its session has room
        held.append(sock)
        assert head.startswith(b"HTTP/1.1 429")
        polled = second.session.get(f"{live_url}/login/{second.pending_id}/status",
                                    params={"ls": second.login_session}, timeout=5)
        assert polled.status_code == 200 and polled.json()["state"] == "waiting"
        assert polled.headers["Cache-Control"] == "no-store"
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("last_event_id", ["²", "١٢", "9" * 5000, "-1", "1e3"])
def test_a_malformed_last_event_id_starts_the_stream_afresh(live_url: str, rp: tuple[str, str],
                                                           last_event_id: str) -> None:
    """``str.isdigit`` accepts "²": the header is parsed as ASCII digits only (SPEC §15 malformed input)."""
    browser = Browser(live_url)
    browser.start(rp[0])
    with browser.session.get(f"{live_url}/login/{browser.pending_id}/events", params={"ls": browser.login_session},
                             headers={"Last-Event-ID": last_event_id.encode("utf-8").decode("latin-1")},
                             stream=True, timeout=10) as response:
        assert response.status_code in (200, 400), response.status_code
        if response.status_code == 200:
            first = next(line for line in response.iter_lines(decode_unicode=True) if line.startswith("data: "))
            assert '"state": "waiting"' in first


def test_a_stream_closed_before_its_first_byte_gives_its_slot_back(app: Flask, rp: tuple[str, str],
                                                                 live_url: str) -> None:
    """A WSGI server closes a response whose body it never iterated (the client left at once): the slot is
    freed through ``call_on_close`` although the stream's generator never ran."""
    from werkzeug.test import EnvironBuilder

    from idp_bridge.login import views

    browser = Browser(live_url)
    browser.start(rp[0])
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
    statuses = []
    for _ in range(5):  # more than the 2 per session: each must have been given back
        environ = EnvironBuilder(path=f"/login/{browser.pending_id}/events",
                                 query_string={"ls": browser.login_session}, headers={"Cookie": cookie},
                                 base_url=live_url).get_environ()
        body = app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        body.close()  # type: ignore[attr-defined]
    assert statuses == ["200 OK"] * 5 and views.SLOTS.open == 0
