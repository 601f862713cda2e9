"""Outages: the database going away and coming back; gunicorn workers killed in the middle of a login."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from tests.conftest import TEST_SECRET_KEY, throwaway_pg_database
from tests.login.conftest import Browser
from tests.production.conftest import Served, _db_app, _setup
from tests.support.live import LiveServer
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (this test is about PostgreSQL outages); yields its name."""
    with throwaway_pg_database("idp_outage") as url:
        yield url.rsplit("/", 1)[-1]


def test_readyz_turns_503_and_recovers_without_restart(pg_database: str, tmp_path: Path) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    app = create_app({"database_url": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{pg_database}",
                      "instance_dir": tmp_path, "secret_key": TEST_SECRET_KEY})
    server = LiveServer()
    server.attach(app)
    server.start()
    try:
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
        proxy.cut()
        down = requests.get(f"{server.url}/readyz", timeout=10)
        assert down.status_code == 503 and "Traceback" not in down.text
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        for method, path in (("GET", "/oauth/authorize?client_id=x&response_type=code"),
                             ("POST", "/connections/social/acme/events?signature=x&timestamp=1&nonce=1"),
                             ("POST", "/oauth/token"), ("GET", "/oauth/jwks")):
            answer = requests.request(method, server.url + path, timeout=10, auth=("some-client", "secret"),
                                      data={"grant_type": "authorization_code", "code": "x"})
            assert answer.status_code == 503, (path, answer.status_code)  # retryable, never a 500
            assert answer.headers["Retry-After"] == "5" and "Traceback" not in answer.text
        proxy.start()
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        server.stop()
        proxy.cut()
        with app.app_context():
            db.engine.dispose()


def _workers(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines()
                              if ":" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(master):
                pids.append(int(entry.name))
    return pids


def test_killing_every_worker_mid_login_loses_nothing(served: Served, simulator: LiveServer) -> None:
    client_id = _setup(served, simulator)
    browser = Browser(served.url)
    assert browser.start(client_id).status_code == 200
    app = _db_app(served)
    with app.app_context():
        browser.ticket = db.session.get(LoginSession, browser.login_session).ticket  # type: ignore[union-attr]
        db.session.remove()
    victims = _workers(served.process.pid)
    assert len(victims) == 4
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:  # gunicorn replaces them; login state lives in the database
        try:
            if requests.get(f"{served.url}/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    answer = requests.post(f"{simulator.url}/api/scan", json={"ticket": browser.ticket, "user": "Kim",
                                                              "action": "follow"}, timeout=10).json()
    assert answer["status"] == "delivered"
    listener = browser.listen()  # the page's EventSource reconnects
    listener.join(10)
    assert browser.events[-1]["state"] == "succeeded"
    assert "code=" in browser.finish().headers["Location"]
    from idp_bridge.wechat.models import ProcessedEvent

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) == 1  # processed once
        db.engine.dispose()
