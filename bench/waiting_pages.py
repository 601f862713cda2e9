"""Capacity (SPEC §16): hold 5,000 login pages waiting on their status streams on one 2-core instance (2 workers)
while measuring SSO logins (authorize + token), whose p99 must stay ≤ 200 ms; prints each worker's RSS.

The pages are real: each is a login session opened through the authorization endpoint (its QR code created at
the simulated WeChat). Their streams are held by one asyncio process (no thread per page), which behaves like
EventSource: it reads events and comments, and reconnects 1 s after a stream ends. The SSO logins run in
this process meanwhile, one at a time.

Usage: python -m bench.waiting_pages [postgresql|sqlite] [pages] [seconds] [workers]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

from bench.harness import bridge, children_of, cpu_seconds, database, machine, percentile, rss_of_workers
from bench.sso_login import REDIRECT, sso_cookie, sso_login
from tests.login.conftest import Browser

WORKERS, THREADS = 2, 32
Page = tuple[str, str, str]  # pending id, login session id, Cookie header


def raise_open_files() -> int:
    """Each held page is a socket: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Holder:
    """The pages' streams, held by coroutines; counts what they saw."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.open = 0  # streams currently open with 200
        self.accepted = 0  # streams answered 200 (reconnections included)
        self.refused = 0  # 429: a browser would poll /status meanwhile
        self.failed = 0
        self.ended = 0  # streams the server ended (the page reconnects)
        self.events = 0
        self.finished = 0  # pages whose session left "waiting" (a browser would reload or move on)
        self.stop = asyncio.Event()

    async def page(self, pending_id: str, session_id: str, cookie: str) -> None:
        request = (f"GET /login/{pending_id}/events?ls={session_id} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                   f"Accept: text/event-stream\r\nCookie: {cookie}\r\n\r\n").encode()
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.failed += 1
                await asyncio.sleep(1)
                continue
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    self.refused += status == 429
                    self.failed += status != 429
                    await asyncio.sleep(5)  # the page's Retry-After
                    continue
                self.accepted += 1
                self.open += 1
                try:
                    while not self.stop.is_set():
                        line = await reader.readline()
                        if not line:
                            self.ended += 1
                            break
                        if line.startswith(b"data: "):
                            self.events += 1
                            if b'"state": "waiting"' not in line and b'"state":"waiting"' not in line:
                                self.finished += 1  # a real page would move on (reload, complete)
                                return
                finally:
                    self.open -= 1
            except (OSError, asyncio.IncompleteReadError):
                self.failed += 1
            finally:
                writer.close()
            await asyncio.sleep(1)  # the stream's "retry: 1000"

    async def run(self, pages: list[Page], control: Connection) -> None:
        tasks = []
        for i, page in enumerate(pages):
            tasks.append(asyncio.create_task(self.page(*page)))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # browsers do not all arrive within one millisecond either
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, control.recv)
            control.send({"open": self.open, "accepted": self.accepted, "refused": self.refused,
                          "failed": self.failed, "ended": self.ended, "events": self.events,
                          "finished": self.finished})
            if command == "stop":
                break
        self.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def hold(base: str, pages: list[Page], control: Connection) -> None:
    """The page-holding process."""
    raise_open_files()
    url = urlsplit(base)
    asyncio.run(Holder(str(url.hostname), int(url.port or 80)).run(pages, control))


def main(kind: str = "postgresql", pages: str = "5000", seconds: str = "30", workers: str = str(WORKERS)) -> None:
    count, window, worker_count = int(pages), float(seconds), int(workers)
    raise_open_files()
    # The pages must still be waiting when measured: preparing thousands takes minutes on a busy machine, longer
    # than the default 5-minute QR life (WeChat allows temporary codes up to 30 days).
    with database(kind) as url, bridge(url, worker_count, threads=THREADS,
                                       extra_env={"IDP_BRIDGE_QR_EXPIRE_SECONDS": "3600"}) as b:
        client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
        client_id, secret = str(client["client_id"]), str(client["client_secret"])

        def new_page(_: int) -> Page | None:
            browser = Browser(b.url)
            browser.start(client_id)
            if not browser.login_session:
                return None
            cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
            browser.session.close()
            return browser.pending_id, browser.login_session, cookie

        print(f"machine: {machine()}; database: {kind}; one instance: {worker_count} workers, {THREADS} Flask threads "
              f"each (status streams on each worker's event loop)", flush=True)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            prepared = [p for p in pool.map(new_page, range(count)) if p is not None]
        prepare_seconds = time.perf_counter() - started
        worker_pids = children_of(b.process.pid)
        idle_rss = rss_of_workers(b.process.pid)
        print(f"login pages prepared: {len(prepared)} of {count} in {prepare_seconds:.1f} s; worker RSS: "
              f"{', '.join(f'{r:.0f} MB' for r in idle_rss)}", flush=True)

        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads inherited from this one
        parent, child = spawn.Pipe()
        holder = spawn.Process(target=hold, args=(b.url, prepared, child), daemon=True)
        opening = time.perf_counter()
        holder.start()
        status: dict[str, int] = {}
        while time.perf_counter() - opening < 600:
            time.sleep(1)
            parent.send("status")
            status = parent.recv()
            if status["open"] + status["refused"] + status["finished"] >= len(prepared):
                break
        open_seconds = time.perf_counter() - opening
        print(f"streams open after {open_seconds:.1f} s: {status}", flush=True)

        cookie = sso_cookie(b, url)
        latencies: list[float] = []
        errors = 0
        cpu_before = cpu_seconds(worker_pids)
        measuring = time.perf_counter()
        while time.perf_counter() - measuring < window:
            try:
                latencies.append(sso_login(b, client_id, secret, cookie))
            except (OSError, KeyError, RuntimeError) as exc:  # a timeout or a failed login: counted, not hidden
                errors += 1
                print(f"SSO login failed: {type(exc).__name__}", flush=True)
        measured = time.perf_counter() - measuring
        cpu = cpu_seconds(worker_pids) - cpu_before
        held_rss = rss_of_workers(b.process.pid)
        parent.send("stop")
        final = parent.recv()
        holder.join(30)

        print(f"waiting login pages held open on streams at the end of the {measured:.0f} s window: {final['open']} "
              f"of {len(prepared)}; refused (429, would poll): {final['refused']}; failed: {final['failed']}; "
              f"ended by the server and reconnected: {final['ended']}; left waiting: {final['finished']}")
        done = len(latencies)
        latencies = latencies or [float("nan")]
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        print(f"SSO login (authorize + token) while they wait: n={done} ({done / measured:.1f}/s) "
              f"p50={p50:.1f} ms p99={p99:.1f} ms max={max(latencies) * 1000:.1f} ms, {errors} failed "
              f"(target p99 ≤ 200 ms); worker CPU {cpu / measured * 100:.0f} % of one core")
        print(f"worker RSS before the pages: {', '.join(f'{r:.0f} MB' for r in idle_rss)}; holding them: "
              f"{', '.join(f'{r:.0f} MB' for r in held_rss)} (target ≤ 150 MB each)")


if __name__ == "__main__":
    main(*sys.argv[1:5])
