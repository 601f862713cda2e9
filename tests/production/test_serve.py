"""`idp-bridge serve` for real: gunicorn with several worker processes on a fresh database, the simulator as a
separate WeChat, logins whose pages and events land on different workers, and re-deliveries counted once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.wechat.models import ProcessedEvent
from tests.login.conftest import Browser
from tests.production.conftest import AES, APP_ID, TOKEN, Served, _db_app, _setup
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow


def test_logins_across_workers_and_redelivery_counted_once(served: Served, simulator: LiveServer,
                                                           empty_database_url: str) -> None:
    client_id = _setup(served, simulator)
    latencies = []
    app = _db_app(served)
    for user in ("Alice", "Bob", "Carol"):
        browser = Browser(served.url)
        page = browser.start(client_id)
        assert page.status_code == 200, page.text
        with app.app_context():  # no simulator link in production pages: read the ticket WeChat issued
            browser.ticket = db.session.get(LoginSession, browser.login_session).ticket  # type: ignore[union-attr]
            db.session.remove()
        listener = browser.listen()
        time.sleep(0.3)
        started = time.monotonic()
        answer = requests.post(f"{simulator.url}/api/scan", json={"ticket": browser.ticket, "user": user,
                                                                  "action": "follow"}, timeout=10).json()
        assert answer["status"] == "delivered" and answer["reply"] == "hello"
        listener.join(10)
        latencies.append(time.monotonic() - started)
        assert browser.events[-1]["state"] == "succeeded"
        assert "code" in browser.finish().headers["Location"]
    bound = 1.0 if empty_database_url.startswith("postgresql") else 3.0  # NOTIFY vs the SQLite safety net
    assert max(latencies) < bound, latencies

    # One more login session; its SCAN is delivered 12 times at once to the 4 workers.
    browser = Browser(served.url)
    browser.start(client_id)
    with app.app_context():
        row = db.session.get(LoginSession, browser.login_session)
        assert row is not None
        scene = row.scene
        db.engine.dispose()
    xml = render_event_xml("gh_x", "oREDELIVERED", int(time.time()), "SCAN", scene, "T")

    def deliver(_: int) -> str:
        push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid="oREDELIVERED", to_user="gh_x",
                          encoding_aes_key=AES)
        return requests.post(f"{served.url}/connections/social/acme/events", params=push.params, data=push.body,
                             timeout=10).text

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(deliver, range(12)))
    # Only the delivery that ran the handler got the passive reply; the others were duplicates ("success") or
    # arrived while its claim was live (503, so that WeChat would re-deliver: SPEC §7.4).
    assert sum(1 for a in answers if a not in ("success", "busy, retry")) == 1, answers
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) == 4
        assert db.session.get(LoginSession, browser.login_session).state == "succeeded"  # type: ignore[union-attr]
        db.engine.dispose()


def test_graceful_stop(served: Served, simulator: LiveServer) -> None:
    assert requests.get(f"{served.url}/healthz", timeout=5).json() == {"status": "ok"}
    waiting = Browser(served.url)  # a login page waiting on its status stream must not delay the stop
    waiting.start(_setup(served, simulator))
    waiting.listen()
    time.sleep(0.5)
    assert "idpb_http_requests_total" in requests.get(f"{served.url}/metrics", timeout=5).text
    results: list[int] = []

    def in_flight() -> None:
        try:
            results.append(requests.get(f"{served.url}/.well-known/openid-configuration", timeout=10).status_code)
        except requests.ConnectionError:
            pass  # arrived after the listener closed: refused, never half-answered

    worker = threading.Thread(target=in_flight)
    worker.start()
    stopping = time.monotonic()
    served.process.terminate()
    worker.join(10)
    assert served.process.wait(30) == 0
    assert time.monotonic() - stopping < 10  # open streams end at once instead of holding the stop
    assert results in ([200], [])  # in flight finished, or arrived after the listener closed
