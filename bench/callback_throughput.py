"""Callback throughput (SPEC §16): safe-mode pushes per second and their latency, on `idp-bridge serve`.

Every push is a distinct, correctly signed and encrypted SCAN event for a scene of the connection's prefix,
so each one goes through signature checks, AES decryption, XML parsing and the login handler (which finds no
live session). The pushes are built before the clock starts and sent as raw bytes over keep-alive connections
by separate sender processes (``bench.loadgen``); the CPU used per event by the senders, the gunicorn workers
and PostgreSQL is printed, so that the reader sees where the two shared cores went.
Usage: python -m bench.callback_throughput [postgresql|sqlite] [concurrent senders] [events] [sender processes]
"""

from __future__ import annotations

import sys
import time

from bench import loadgen
from bench.harness import (
    AES,
    APP_ID,
    TOKEN,
    bridge,
    children_of,
    cpu_seconds,
    database,
    database_cpu_seconds,
    machine,
    summary,
)
from idp_bridge.simulator.push import build_push, render_event_xml

EVENTS, CONCURRENCY, WORKERS, SENDER_PROCESSES = 4000, 16, 2, 2
WARM_UP = 200


def pushes(target: str, count: int, first: int) -> list[bytes]:
    now = int(time.time())
    built = []
    for i in range(first, first + count):
        openid = f"oUSER{i:06d}"
        push = build_push(render_event_xml("gh_bench", openid, now, "SCAN", f"bench_s{i}", "T"), token=TOKEN,
                          mode="safe", app_id=APP_ID, openid=openid, to_user="gh_bench", encoding_aes_key=AES)
        built.append(loadgen.raw_post(target, push.params, push.body))
    return built


def main(kind: str = "postgresql", concurrency: str = str(CONCURRENCY), events: str = str(EVENTS),
         processes: str = str(SENDER_PROCESSES)) -> None:
    senders, count = int(concurrency), int(events)
    with database(kind) as url, bridge(url, WORKERS) as b:
        target = f"{b.url}/connections/social/bench/events"
        warm = pushes(target, WARM_UP, 0)
        timed = pushes(target, count, WARM_UP)
        loadgen.run(b.url, warm, senders, int(processes))  # imports, pools, prepared statements, caches
        workers = children_of(b.process.pid)
        workers_cpu, database_cpu = cpu_seconds(workers), database_cpu_seconds()
        result, elapsed = loadgen.run(b.url, timed, senders, int(processes))
        workers_cpu, database_cpu = cpu_seconds(workers) - workers_cpu, database_cpu_seconds() - database_cpu
        done = len(result.latencies)
        failures = done - result.statuses.get(200, 0)
        print(f"machine: {machine()}; database: {kind}; gunicorn workers: {WORKERS}; concurrent senders: "
              f"{senders} (keep-alive, {processes} sender processes)")
        print(f"safe-mode events: {done} in {elapsed:.2f} s = {done / elapsed:.0f} events/s "
              f"(failures: {failures}); target >= 600 events/s")
        print(summary("callback latency", result.latencies) + "; target p99 <= 100 ms")
        db_part = f", {kind} {database_cpu / done * 1000:.2f} ms" if kind == "postgresql" else ""
        print(f"CPU per event: workers {workers_cpu / done * 1000:.2f} ms{db_part}, load generator "
              f"{result.cpu_seconds / done * 1000:.2f} ms (2 cores = {2000 * elapsed / done:.2f} ms per event)")


if __name__ == "__main__":
    main(*sys.argv[1:5])
