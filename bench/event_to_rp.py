"""Event → relying party (SPEC §16): from posting a WeChat push until the relying party's redirect_uri receives
the authorization code in a real browser, with 4 gunicorn workers on PostgreSQL and Redis.

Debian's Chromium (headless, driven by Playwright) opens the application's authorize URL and lands on the hosted
login page; once its status stream is open the bench posts the signed SCAN push for the page's scene, as WeChat
would, and waits until the browser's navigation reaches a tiny local relying party. The page's stream wakes up
(across workers through Redis), its script follows the completion link, and the bridge redirects to the
redirect_uri with the code: all of it is in the figure. Each login starts without cookies (no SSO session, no
browser binding). The phases are printed too: the callback's own answer, and when the browser started the
completion request (Chromium's request timing, wall clock).
Usage: python -m bench.event_to_rp [postgresql|sqlite] [logins] [redis_url]
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, text

from bench.harness import AES, APP_ID, TOKEN, bridge, database, machine, summary
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.simulator.views import state as simulator_state

CHROMIUM = "/usr/bin/chromium"
WORKERS, WARM_UP = 4, 3
# Pause between the page's stream opening and the push. Nobody scans a QR code within milliseconds of it
# appearing; without the pause the push raced the page's own loading (its image, script and first status read)
# for the two cores, which measured that race rather than the path from a scan to the relying party.
SETTLE = 0.5


class RelyingParty:
    """The application's redirect_uri: records when each authorization code arrives (perf_counter)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.arrived = threading.Condition()
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                at = time.perf_counter()
                query = parse_qs(urlsplit(self.path).query)
                body = b"signed in"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with rp.arrived:
                    rp.arrivals[query.get("state", [""])[0]] = at
                    rp.arrived.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, state: str, seconds: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: state in self.arrivals, seconds)
            return self.arrivals.get(state)


def main(kind: str = "postgresql", logins: str = "60", redis_url: str = "redis://127.0.0.1:6379/0") -> None:
    rp = RelyingParty()
    redirect_uri = f"{rp.url}/cb"
    total, phases_push, phases_nav = [], [], []
    missed = 0
    with database(kind) as url, bridge(url, WORKERS, redis_url=redis_url or None) as b, sync_playwright() as p:
        client_id = str(b.cli("client", "create", "--name", "Bench RP", "--redirect-uri", redirect_uri)["client_id"])
        engine = create_engine(url)
        simulator = b.simulator._app  # the bench's own simulator: it must know the people who scan
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                           "--disable-component-update", "--disable-sync", "--no-first-run"])
        # One context and page for the whole run, cookies cleared between logins: a new context per login cost
        # Chromium about half a second of CPU, on the same two cores as the server under test (a visitor's
        # browser runs on their own device).
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        continued: list[float] = []
        page.on("requestfinished", lambda r: continued.append(r.timing["startTime"] / 1000)
                if "/complete" in r.url else None)  # startTime: the browser's wall clock, in ms
        for i in range(int(logins) + WARM_UP):
            state = secrets.token_urlsafe(8)
            verifier = secrets.token_urlsafe(48)
            authorize = f"{b.url}/oauth/authorize?" + urlencode({
                "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
                "state": state, "nonce": secrets.token_urlsafe(8), "code_challenge_method": "S256",
                "code_challenge": create_s256_code_challenge(verifier)})
            context.clear_cookies()  # no SSO cookie, no browser binding: every login starts from nothing
            continued.clear()
            with page.expect_response(lambda r: "/events" in r.url and r.status == 200):
                page.goto(authorize)  # → the hosted login page, whose script opens the status stream
            page.wait_for_load_state("load")
            time.sleep(SETTLE)  # a person takes seconds to scan: the page has finished loading by then
            events_url = page.get_attribute("[data-events-url]", "data-events-url") or ""
            login_session = parse_qs(urlsplit(events_url).query)["ls"][0]
            with engine.connect() as conn:
                scene = conn.execute(text("SELECT scene FROM login_sessions WHERE id = :id"),
                                     {"id": login_session}).scalar_one()
            user = f"bench-person-{i}-{secrets.token_hex(3)}"
            openid = _person(simulator, user)
            xml = render_event_xml("gh_bench", openid, int(time.time()), "SCAN", scene, "T")
            push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid=openid, to_user="gh_bench",
                              encoding_aes_key=AES)
            wall, sent = time.time(), time.perf_counter()
            answer = requests.post(f"{b.url}/connections/social/bench/events", params=push.params, data=push.body,
                                   timeout=10)
            answered = time.perf_counter()
            try:
                page.wait_for_url(f"{rp.url}/**", timeout=10_000)
            except Exception:
                pass
            arrived = rp.wait(state, 1.0)
            page.wait_for_timeout(20)  # lets the completion request's "finished" event reach us
            if i < WARM_UP:
                continue
            if arrived is None or answer.status_code != 200:
                missed += 1
                continue
            total.append(arrived - sent)
            phases_push.append(answered - sent)
            if continued:
                phases_nav.append(continued[0] - wall)
        context.close()
        chromium.close()
        engine.dispose()
    print(f"machine: {machine()}; database: {kind}; wake-up via {'Redis' if redis_url else 'the database'}; "
          f"gunicorn workers: {WORKERS}; Chromium headless, cookies cleared before each login")
    print(summary("event → relying party (push sent → code at redirect_uri)", total)
          + f"; missed: {missed}; targets p50 ≤ 60 ms, p99 ≤ 150 ms")
    print("  " + summary("push sent → callback answered", phases_push))
    if phases_nav:
        print("  " + summary("push sent → browser starts the completion request", phases_nav))


def _person(simulator: Any, user: str) -> str:
    """Register ``user`` with the simulated WeChat (so that user/info knows them); their openid."""
    from idp_bridge.simulator.state import openid_for

    openid = openid_for(APP_ID, user)
    with simulator.app_context():
        sim = simulator_state()
        with sim.lock:
            sim.people[(APP_ID, openid)] = user
    return openid


if __name__ == "__main__":
    main(*sys.argv[1:4])
