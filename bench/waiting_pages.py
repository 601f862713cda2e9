"""Capacity (SPEC §16): hold 1,000 login pages open on their status streams while measuring the token
endpoint (SSO authorize + token) latency, on 4 gunicorn workers.

Usage: python -m bench.waiting_pages [postgresql|sqlite] [pages]
"""

from __future__ import annotations

import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from bench.harness import bridge, database, machine, percentile, rss_of_workers
from bench.sso_login import REDIRECT, sso_cookie, sso_login
from tests.login.conftest import Browser

WORKERS, THREADS = 4, 300


def open_stream(base: str, browser: Browser) -> socket.socket:
    """A status stream held open like a browser's EventSource, without a client thread per page."""
    host = urlsplit(base)
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
    sock = socket.create_connection((host.hostname, host.port))
    sock.sendall((f"GET /login/{browser.pending_id}/events?ls={browser.login_session} HTTP/1.1\r\n"
                  f"Host: {host.netloc}\r\nAccept: text/event-stream\r\nCookie: {cookies}\r\n\r\n").encode())
    return sock


def main(kind: str = "postgresql", pages: str = "1000") -> None:
    count = int(pages)
    with database(kind) as url, bridge(url, WORKERS, threads=THREADS) as b:
        client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
        client_id, secret = str(client["client_id"]), str(client["client_secret"])

        def new_page(_: int) -> Browser:
            browser = Browser(b.url)
            browser.start(client_id)
            return browser

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            browsers = [br for br in pool.map(new_page, range(count)) if br.login_session]
        prepared = time.perf_counter() - started
        opened = [open_stream(b.url, br) for br in browsers]
        time.sleep(2)
        # Each worker holds streams only up to its cap below the thread count (SPEC §15); a refused page
        # (429) polls /status instead. Count what each stream really got.
        streams, refused = [], 0
        for s in opened:
            head = s.recv(200)
            if b"200 OK" in head:
                streams.append(s)
            else:
                assert b"429" in head, head
                refused += 1
                s.close()

        cookie = sso_cookie(b, url)
        latencies: list[float] = []
        deadline = time.perf_counter() + 15  # well inside the 25 s life of each stream
        while time.perf_counter() < deadline:
            latencies.append(sso_login(b, client_id, secret, cookie))
        alive = 0
        for s in streams:
            s.setblocking(False)
            try:
                alive += s.recv(1) != b""
            except BlockingIOError:
                alive += 1  # still open, nothing new to say: exactly a waiting page
            except OSError:
                pass
        rss = rss_of_workers(b.process.pid)
        for s in streams:
            s.close()
        print(f"machine: {machine()}; database: {kind}; gunicorn workers: {WORKERS} × {THREADS} threads")
        print(f"waiting login pages held open on streams: {alive} of {len(opened)}; refused by the stream cap "
              f"and polling instead: {refused} (prepared in {prepared:.1f} s)")
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        print(f"SSO login (authorize + token) while they wait: n={len(latencies)} p50={p50:.1f} ms "
              f"p99={p99:.1f} ms (target p99 ≤ 200 ms)")
        print(f"worker RSS: {', '.join(f'{r:.0f} MB' for r in rss)} (target ≤ 150 MB each)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
