"""`idp-bridge serve` delivers events by itself (SPEC §14): a sender killed mid-delivery loses nothing, and two
instances on one PostgreSQL deliver each event exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from standardwebhooks import Webhook as Verifier

from idp_bridge import create_app
from idp_bridge.accounts import admin
from idp_bridge.extensions import db
from tests.conftest import throwaway_pg_database
from tests.events.receiver import Receiver
from tests.production.conftest import CLI, _free_port, migrated_env, wait_ready

pytestmark = pytest.mark.slow


@contextmanager
def serve(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A serve in its own process group, so that the test can kill master and workers at once."""
    env = {**env, "IDP_BRIDGE_ISSUER": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen([CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                                "--purge-interval", "0"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_ready(f"http://127.0.0.1:{port}"), "serve did not become ready"
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(40)


def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    result = subprocess.run([CLI, *args, "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_killing_the_sender_mid_delivery_still_delivers(empty_database_url: str, tmp_path: Path,
                                                        receiver: Receiver) -> None:
    env, port = migrated_env(empty_database_url, tmp_path, webhook_allow_private="1")
    secret = str(_cli(env, "webhook", "create", "--url", receiver.url, "--event", "user.created")["secret"])
    sub = _cli(env, "user", "create", "--name", "Kai")["sub"]
    receiver.hold_first = threading.Event()
    with serve(env, port) as first:
        receiver.wait_for(1, timeout=30)  # the sender is now waiting for our answer …
        os.killpg(first.pid, signal.SIGKILL)  # … and dies, master and workers
        first.wait(10)
    receiver.hold_first.set()
    with serve(env, _free_port()):
        got = receiver.wait_for(2, timeout=60)  # retried once its lease ran out
    payload = Verifier(secret).verify(got[1].body, got[1].headers)
    assert payload["type"] == "user.created" and payload["data"]["user"] == sub
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]


def test_a_graceful_stop_finishes_the_delivery_in_flight(empty_database_url: str, tmp_path: Path,
                                                         receiver: Receiver) -> None:
    env, port = migrated_env(empty_database_url, tmp_path, webhook_allow_private="1")
    _cli(env, "webhook", "create", "--url", receiver.url, "--event", "user.created")
    _cli(env, "user", "create", "--name", "Lou")
    receiver.delay = 2.0
    with serve(env, port) as server:
        receiver.wait_for(1, timeout=30)
        os.killpg(server.pid, signal.SIGTERM)  # while the receiver is still answering
        server.wait(40)
    deliveries = _cli(env, "webhook", "deliveries", str(_cli(env, "webhook", "list")["webhooks"][0]["id"]))
    assert [d["state"] for d in deliveries["deliveries"]] == ["delivered"]  # recorded before the worker left
    assert len(receiver.requests) == 1


def test_two_instances_on_one_postgresql_deliver_each_event_once(tmp_path: Path, receiver: Receiver) -> None:
    with throwaway_pg_database("idp_events") as url:  # several instances share a database only on PostgreSQL
        _two_instances(url, tmp_path, receiver)


def _two_instances(database_url: str, tmp_path: Path, receiver: Receiver) -> None:
    env, port = migrated_env(database_url, tmp_path, webhook_allow_private="1")
    _cli(env, "webhook", "create", "--url", receiver.url, "--event", "user.created")
    count = 25
    # The users are made in this process, as `idp-bridge user create` makes them (25 CLI start-ups cost a minute).
    app = create_app({"database_url": database_url, "instance_dir": env["IDP_BRIDGE_INSTANCE_DIR"],
                      "secret_key": env["IDP_BRIDGE_SECRET_KEY"]})
    with serve(env, port), serve(env, _free_port()):
        with app.app_context():
            for i in range(count):
                admin.create_user(f"u{i}")
            db.engine.dispose()
        got = receiver.wait_for(count, timeout=60)
        time.sleep(2)  # any duplicate would arrive now
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(got) >= count and len(ids) == count == len(set(ids))
