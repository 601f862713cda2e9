"""Callback throughput (SPEC §16): safe-mode pushes per second and their latency, on `idp-bridge serve`.

Every push is a distinct, correctly signed and encrypted SCAN event for a scene of the connection's prefix,
so each one goes through signature checks, AES decryption, XML parsing, the de-duplication insert and the
login handler (which finds no live session).
Usage: python -m bench.callback_throughput [postgresql|sqlite] [client threads]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.harness import AES, APP_ID, TOKEN, bridge, database, machine, summary
from idp_bridge.simulator.push import build_push, render_event_xml

EVENTS, CONCURRENCY, WORKERS = 2000, 16, 2


def main(kind: str = "postgresql", concurrency: str = str(CONCURRENCY)) -> None:
    clients = int(concurrency)
    with database(kind) as url, bridge(url, WORKERS) as b:
        target = f"{b.url}/connections/social/bench/events"
        now = int(time.time())
        pushes = [build_push(render_event_xml("gh_bench", f"oUSER{i:06d}", now, "SCAN", f"bench_s{i}", "T"),
                             token=TOKEN, mode="safe", app_id=APP_ID, openid=f"oUSER{i:06d}", to_user="gh_bench",
                             encoding_aes_key=AES) for i in range(EVENTS)]
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=clients))
        for push in pushes[:50]:  # warm-up: imports, pools, signing keys
            session.post(target, params=push.params, data=push.body, timeout=10)
        latencies: list[float] = []
        failures = 0

        def send(i: int) -> None:
            nonlocal failures
            push = pushes[i]
            started = time.perf_counter()
            response = session.post(target, params=push.params, data=push.body, timeout=10)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, range(50, EVENTS)))
        elapsed = time.perf_counter() - started
        print(f"machine: {machine()}; database: {kind}; gunicorn workers: {WORKERS}; client threads: {clients}")
        print(f"safe-mode events: {len(latencies)} in {elapsed:.2f} s = {len(latencies) / elapsed:.0f} events/s "
              f"(failures: {failures}); target >= 300 events/s")
        print(summary("callback latency", latencies) + "; target p99 <= 100 ms")


if __name__ == "__main__":
    main(*sys.argv[1:3])
