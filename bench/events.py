"""Events (SPEC §14) on `idp-bridge serve`: webhook delivery throughput and pass-through added latency.

1. Webhooks: N events are written to the outbox in one transaction (as producers do), and we time how long
   the senders of `serve` (every worker) take to deliver all of them, signed, to a local receiver.
2. Pass-through: safe-mode chat texts posted to the bridge, which re-signs, re-encrypts and forwards them to a
   local backend and relays its reply; compared with posting the same pushes to the backend directly.
Usage: python -m bench.events [postgresql|sqlite] [events]
"""

from __future__ import annotations

import sys
import threading
import time

import requests
from werkzeug.wrappers import Request, Response

from bench.harness import AES, APP_ID, SECRET_KEY, TOKEN, bridge, database, machine, percentile, summary
from idp_bridge import create_app
from idp_bridge.events.outbox import emit
from idp_bridge.extensions import db
from idp_bridge.simulator.push import build_push, render_text_message
from tests.support.live import LiveServer

WORKERS, TEXTS = 2, 500


class Sink:
    """A receiver answering 200 at once, counting what it got."""

    def __init__(self) -> None:
        self.count, self.lock, self.done = 0, threading.Lock(), threading.Event()
        self.expected = 0
        self.server = LiveServer()
        self.server.attach(self)
        self.server.start()

    def __call__(self, environ: dict[str, object], start_response: object) -> object:
        Request(environ).get_data()
        with self.lock:
            self.count += 1
            if self.count >= self.expected:
                self.done.set()
        return Response("success")(environ, start_response)  # type: ignore[arg-type]


def webhooks(url: str, env: dict[str, str], count: int) -> None:
    sink = Sink()
    sink.expected = count
    app = create_app({"database_url": url, "instance_dir": env["IDP_BRIDGE_INSTANCE_DIR"], "secret_key": SECRET_KEY,
                      "webhook_allow_private": True})
    from idp_bridge.events.webhooks import create_webhook

    with app.app_context():
        create_webhook(sink.server.url + "/hook", ["user.created"])
        started = time.perf_counter()
        for i in range(count):
            emit("user.created", {"user": f"u{i}", "connection": None})
        db.session.commit()
        written = time.perf_counter() - started
        db.engine.dispose()
    delivered = sink.done.wait(600)
    elapsed = time.perf_counter() - started
    print(f"webhooks: {sink.count}/{count} delivered in {elapsed:.2f} s = {sink.count / elapsed:.0f} events/s "
          f"(outbox write {written * 1000:.0f} ms; {'complete' if delivered else 'INCOMPLETE'})")
    sink.server.stop()


def passthrough(b_url: str, cli: object) -> None:
    backend = Sink()
    backend.expected = 10**9
    cli("connection", "update", "bench", "--forward-url", backend.server.url + "/wechat")  # type: ignore[operator]
    target = f"{b_url}/connections/social/bench/events"
    session = requests.Session()

    def push(i: int) -> tuple[dict[str, str], bytes]:
        p = build_push(render_text_message("gh_bench", f"oUSER{i:06d}", "hello", int(time.time()), 10**6 + i),
                       token=TOKEN, mode="safe", app_id=APP_ID, openid=f"oUSER{i:06d}", to_user="gh_bench",
                       encoding_aes_key=AES)
        return p.params, p.body

    def timed(url: str, n: int, offset: int) -> list[float]:
        out = []
        for i in range(n):
            params, body = push(offset + i)
            started = time.perf_counter()
            response = session.post(url, params=params, data=body, timeout=10)
            out.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        return out

    timed(target, 30, 0)  # warm-up
    direct = timed(backend.server.url + "/wechat", TEXTS, 10_000)
    through = timed(target, TEXTS, 20_000)
    print(summary("backend directly", direct))
    print(summary("through the bridge (verify, decrypt, re-sign, re-encrypt, forward, relay)", through))
    print(f"pass-through added latency: p50 {(percentile(through, 50) - percentile(direct, 50)) * 1000:.1f} ms, "
          f"p99 {(percentile(through, 99) - percentile(direct, 99)) * 1000:.1f} ms")
    backend.server.stop()


def main(kind: str = "postgresql", count: str = "2000") -> None:
    with database(kind) as url, bridge(url, WORKERS, extra_env={"IDP_BRIDGE_WEBHOOK_ALLOW_PRIVATE": "1"}) as b:
        print(f"machine: {machine()}; database: {kind}; gunicorn workers: {WORKERS}")
        webhooks(url, b.env, int(count))
        passthrough(b.url, b.cli)


if __name__ == "__main__":
    main(*sys.argv[1:3])
