"""Event → browser latency (SPEC §16): from posting a WeChat push to the bridge until the waiting login
page's status stream delivers "succeeded", over many logins, with 1 and 4 gunicorn workers.

The page (SSE) and the push go through separate connections, so with several workers they usually land on
different processes: the wake-up then crosses processes (PostgreSQL NOTIFY, or Redis when given).
Usage: python -m bench.event_latency [postgresql|sqlite] [logins] [redis_url]
"""

from __future__ import annotations

import sys
import threading
import time

import requests

from bench.harness import AES, APP_ID, SECRET_KEY, TOKEN, bridge, database, machine, rss_of_workers, summary
from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.push import build_push, render_event_xml
from tests.login.conftest import Browser

REDIRECT = "http://127.0.0.1:9/callback"


def run(kind: str, url: str, workers: int, logins: int, redis_url: str | None) -> None:
    with bridge(url, workers, redis_url=redis_url) as b:
        client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
        app = create_app({"database_url": url, "instance_dir": b.env["IDP_BRIDGE_INSTANCE_DIR"],
                          "secret_key": SECRET_KEY, "issuer": b.url})
        latencies: list[float] = []
        for i in range(logins + 3):
            browser = Browser(b.url)
            browser.start(str(client["client_id"]))
            with app.app_context():
                scene = db.session.get(LoginSession, browser.login_session).scene  # type: ignore[union-attr]
                db.session.remove()
            arrived = threading.Event()
            stamp: list[float] = []

            def listen(browser: Browser = browser, arrived: threading.Event = arrived,
                       stamp: list[float] = stamp) -> None:
                with browser.session.get(f"{b.url}/login/{browser.pending_id}/events",
                                         params={"ls": browser.login_session}, stream=True, timeout=30) as r:
                    for line in r.iter_lines(decode_unicode=True):
                        if line and '"succeeded"' in line:
                            stamp.append(time.perf_counter())
                            arrived.set()
                            return

            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            time.sleep(0.15)  # the page is connected and waiting
            xml = render_event_xml("gh_bench", f"oLAT{i:05d}", int(time.time()), "SCAN", scene, "T")
            push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid=f"oLAT{i:05d}",
                              to_user="gh_bench", encoding_aes_key=AES)
            sent = time.perf_counter()
            requests.post(f"{b.url}/connections/social/bench/events", params=push.params, data=push.body, timeout=10)
            arrived.wait(10)
            thread.join(1)
            if i >= 3 and stamp:  # the first logins warm the workers up
                latencies.append(stamp[0] - sent)
        with app.app_context():
            db.engine.dispose()
        rss = rss_of_workers(b.process.pid)
        via = "Redis" if redis_url else ("PostgreSQL NOTIFY" if kind == "postgresql" else "in-process/poll")
        print(f"[{workers} worker(s), {kind}, wake-up via {via}] " + summary("event→browser", latencies)
              + f"; missed: {logins - len(latencies)}")
        if rss:
            print(f"  worker RSS: {', '.join(f'{r:.0f} MB' for r in rss)} (target ≤ 150 MB each)")


def main(kind: str = "postgresql", logins: str = "60", redis_url: str | None = None) -> None:
    print(f"machine: {machine()}; targets p50 ≤ 100 ms, p99 ≤ 500 ms")
    for workers in (1, 4):
        with database(kind) as url:
            run(kind, url, workers, int(logins), redis_url)


if __name__ == "__main__":
    main(*sys.argv[1:4])
