"""Shared fixtures for production tests: `idp-bridge serve` started for real, and a standalone simulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from idp_bridge import create_app
from idp_bridge.simulator.state import SimAccount
from idp_bridge.simulator.views import create_simulator_app
from tests.conftest import TEST_SECRET_KEY
from tests.support.live import LiveServer

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


def wait_ready(url: str, seconds: float = 30) -> bool:
    """Poll ``/readyz`` until it answers 200 (True) or ``seconds`` pass (False)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


@contextmanager
def running_serve(env: dict[str, str], port: int, *args: str, output: tuple[IO[bytes], IO[bytes]] | None = None
                  ) -> Iterator[Served]:
    """`idp-bridge serve ARGS…` on ``port`` until ready (30 s at most); terminated gracefully afterwards.
    ``output`` receives its stdout and stderr (discarded otherwise)."""
    out, err = output or (subprocess.DEVNULL, subprocess.DEVNULL)
    process = subprocess.Popen([CLI, "serve", "--bind", f"127.0.0.1:{port}", *args], env=env, stdout=out,
                               stderr=err)
    server = Served(env, port, process)
    if not wait_ready(server.url):
        process.kill()
        pytest.fail("idp-bridge serve did not become ready")
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def migrated_env(database_url: str, tmp_path: Path, api_base: str = "http://127.0.0.1:9", **extra: str
                 ) -> tuple[dict[str, str], int]:
    """The environment of a serve on a free port, with the database upgraded to the latest migration."""
    port = _free_port()
    env = {**_env(database_url, tmp_path, port, api_base), **{f"IDP_BRIDGE_{k.upper()}": v for k, v in extra.items()}}
    assert subprocess.run([CLI, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    return env, port


@pytest.fixture(params=["no-redis", "redis"])
def served(request: pytest.FixtureRequest, empty_database_url: str, tmp_path: Path,
           simulator: LiveServer) -> Iterator[Served]:
    """`idp-bridge serve` with 4 workers, without and with Redis for cross-worker notifications."""
    port = _free_port()
    env = _env(empty_database_url, tmp_path, port, simulator.url)
    if request.param == "redis":
        env["IDP_BRIDGE_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    refused = subprocess.run([CLI, "serve", "--bind", f"127.0.0.1:{port}"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and "idp-bridge db upgrade" in refused.stderr
    assert subprocess.run([CLI, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    with running_serve(env, port, "--workers", "4", "--threads", "16") as server:
        yield server


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
    return str(json.loads(client.stdout)["client_id"])


def _db_app(served: Served) -> Any:
    return create_app({"database_url": served.env["IDP_BRIDGE_DATABASE_URL"],
                       "instance_dir": served.env["IDP_BRIDGE_INSTANCE_DIR"], "secret_key": TEST_SECRET_KEY})


