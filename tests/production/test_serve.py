"""`idp-bridge serve` for real: gunicorn with several worker processes on a fresh database, the simulator as a
separate WeChat, logins whose pages and events land on different workers, and re-deliveries counted once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.state import SimAccount
from idp_bridge.simulator.views import create_simulator_app
from idp_bridge.wechat import messages
from idp_bridge.wechat.models import ProcessedEvent
from idp_bridge.wechat.push import build_push
from tests.conftest import TEST_SECRET_KEY
from tests.login.conftest import Browser
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).with_name("idp-bridge"))
APP_ID, TOKEN, AES = "wx0123456789abcdef", "Token123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A running `idp-bridge serve` and the environment it was started with."""

    def __init__(self, env: dict[str, str], port: int, process: subprocess.Popen[bytes]) -> None:
        self.env, self.port, self.process = env, port, process
        self.url = f"http://127.0.0.1:{port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, timeout=60)


def _env(database_url: str, tmp_path: Path, port: int, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    env.update(IDP_BRIDGE_DATABASE_URL=database_url, IDP_BRIDGE_INSTANCE_DIR=str(tmp_path / "inst"),
               IDP_BRIDGE_ISSUER=f"http://127.0.0.1:{port}", IDP_BRIDGE_SECRET_KEY=TEST_SECRET_KEY,
               IDP_BRIDGE_WECHAT_API_BASE=api_base)
    return env


@pytest.fixture
def simulator() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def served(empty_database_url: str, tmp_path: Path, simulator: LiveServer) -> Iterator[Served]:
    port = _free_port()
    env = _env(empty_database_url, tmp_path, port, simulator.url)
    refused = subprocess.run([CLI, "serve", "--bind", f"127.0.0.1:{port}"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and "idp-bridge db upgrade" in refused.stderr
    assert subprocess.run([CLI, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    process = subprocess.Popen([CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "16"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Served(env, port, process)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("idp-bridge serve did not become ready")
    yield server
    process.terminate()
    process.wait(30)


def _setup(served: Served, simulator: LiveServer) -> str:
    created = served.cli("connection", "create", "--identifier", "acme", "--display-name", "ACME", "--app-id", APP_ID,
                         "--app-secret", "0123456789abcdef0123456789abcdef", "--token", TOKEN, "--encoding-aes-key",
                         AES, "--encryption", "safe", "--scene-prefix", "acme_", "--reply-text", "hello", "--json")
    assert created.returncode == 0, created.stderr
    simulator.attach(create_simulator_app([SimAccount(
        app_id=APP_ID, app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption="safe",
        encoding_aes_key=AES, callback_url=f"{served.url}/connections/social/acme/events")]))
    simulator.start()
    client = served.cli("client", "create", "--name", "Shop", "--redirect-uri", "http://127.0.0.1:9/callback",
                        "--json")
    assert client.returncode == 0, client.stderr
    import json

    return str(json.loads(client.stdout)["client_id"])


def _db_app(served: Served) -> Any:
    return create_app({"database_url": served.env["IDP_BRIDGE_DATABASE_URL"],
                       "instance_dir": served.env["IDP_BRIDGE_INSTANCE_DIR"], "secret_key": TEST_SECRET_KEY})


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

    # One more login session; its SCAN is delivered 12 times at once to the 3 workers.
    browser = Browser(served.url)
    browser.start(client_id)
    with app.app_context():
        row = db.session.get(LoginSession, browser.login_session)
        assert row is not None
        scene = row.scene
        db.engine.dispose()
    xml = messages.render_event_xml("gh_x", "oREDELIVERED", int(time.time()), "SCAN", scene, "T")

    def deliver(_: int) -> str:
        push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid="oREDELIVERED", to_user="gh_x",
                          encoding_aes_key=AES)
        return requests.post(f"{served.url}/connections/social/acme/events", params=push.params, data=push.body,
                             timeout=10).text

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(deliver, range(12)))
    assert sum(1 for a in answers if a != "success") == 1  # only the first delivery got the passive reply
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) == 4
        assert db.session.get(LoginSession, browser.login_session).state == "succeeded"  # type: ignore[union-attr]
        db.engine.dispose()


def test_graceful_stop_and_metrics_free_health(served: Served) -> None:
    assert requests.get(f"{served.url}/healthz", timeout=5).json() == {"status": "ok"}
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(
        requests.get(f"{served.url}/.well-known/openid-configuration", timeout=10).status_code))
    worker.start()
    served.process.terminate()
    worker.join(10)
    assert served.process.wait(30) == 0
    assert results in ([200], [])  # in flight finished, or arrived after the listener closed
