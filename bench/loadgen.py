"""A cheap HTTP/1.1 load generator for benchmarks that share the machine with the server they measure.

Requests are serialised to raw bytes before the clock starts; each sender process runs its share of keep-alive
connections on one asyncio loop and parses only the status line and ``Content-Length``. The CPU the generator
itself used while the clock ran is reported, so a reader can see that the load generator was not the limit.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


def raw_post(url: str, params: dict[str, str], body: bytes, content_type: str = "text/xml") -> bytes:
    """One keep-alive POST as the bytes a client would send."""
    parts = urlsplit(url)
    head = (f"POST {parts.path}?{urlencode(params)} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


@dataclass
class Result:
    """Latencies (seconds), HTTP statuses, and the generator's own CPU seconds while sending."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    elapsed: float = 0.0


async def _connection(host: str, port: int, queue: list[bytes], result: Result) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    while queue:
        request = queue.pop()
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await reader.readexactly(length)
        result.latencies.append(time.perf_counter() - started)
        status = int(head.split(b" ", 2)[1])
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
    writer.close()


def _sender(url: str, requests_: list[bytes], connections: int, start: multiprocessing.synchronize.Event,
            out: multiprocessing.connection.Connection) -> None:
    parts = urlsplit(url)
    result = Result()
    queue = list(reversed(requests_))

    async def run() -> None:
        await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80, queue, result)
                               for _ in range(connections)))

    start.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    asyncio.run(run())
    result.elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out.send(result)


def run(url: str, requests_: list[bytes], connections: int, processes: int = 2) -> tuple[Result, float]:
    """Send ``requests_`` over ``connections`` keep-alive connections split across ``processes``; the merged
    result and the wall-clock seconds from the common start to the last answer."""
    processes = max(1, min(processes, connections))
    context = multiprocessing.get_context("fork")
    start = context.Event()
    pipes, workers = [], []
    for p in range(processes):
        receive, send = context.Pipe(duplex=False)
        share = connections // processes + (1 if p < connections % processes else 0)
        worker = context.Process(target=_sender, args=(url, requests_[p::processes], share, start, send))
        worker.start()
        pipes.append(receive)
        workers.append(worker)
    time.sleep(0.2)  # every sender is forked and waiting
    began = time.perf_counter()
    start.set()
    merged = Result()
    for receive in pipes:
        part: Result = receive.recv()
        merged.latencies += part.latencies
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        merged.cpu_seconds += part.cpu_seconds
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    merged.elapsed = elapsed
    return merged, elapsed
