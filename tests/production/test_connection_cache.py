"""SPEC §16: each worker keeps a connection's unsealed secrets in memory, yet a Token rotation, an EncodingAESKey
change or a deletion made by another process (here the CLI) is honoured by every worker of a running
`idp-bridge serve` within 1 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from idp_bridge.simulator.push import build_push, render_event_xml
from tests.production.conftest import AES, APP_ID, TOKEN, Served, migrated_env, running_serve

WORKERS = 4
PUSHES = 32  # each on a new TCP connection, so that they spread over the workers
WITHIN = 1.0
NEW_TOKEN, NEW_AES = "Rotated456", "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
OLD_TOKEN = TOKEN


@pytest.fixture
def served(empty_database_url: str, tmp_path: Path) -> Iterator[Served]:
    env, port = migrated_env(empty_database_url, tmp_path)
    with running_serve(env, port, "--workers", str(WORKERS), "--threads", "4") as server:
        created = server.cli("connection", "create", "--identifier", "acme", "--display-name", "ACME", "--app-id",
                             APP_ID, "--app-secret", "0123456789abcdef0123456789abcdef", "--token", OLD_TOKEN,
                             "--encoding-aes-key", AES, "--encryption", "safe", "--scene-prefix", "acme_")
        assert created.returncode == 0, created.stderr
        yield server


def _statuses(served: Served, token: str, aes_key: str, count: int = PUSHES) -> list[int]:
    """Statuses of ``count`` safe-mode pushes (scans of unknown scenes: 200 once verified), each on its own
    connection."""
    statuses = []
    for i in range(count):
        openid = f"oCACHE{time.monotonic_ns()}{i}"
        xml = render_event_xml("gh_acme", openid, int(time.time()), "SCAN", f"acme_gone{i}", "T")
        push = build_push(xml, token=token, mode="safe", app_id=APP_ID, openid=openid, to_user="gh_acme",
                          encoding_aes_key=aes_key)
        statuses.append(requests.post(f"{served.url}/connections/social/acme/events", params=push.params,
                                      data=push.body, timeout=10, headers={"Connection": "close"}).status_code)
    return statuses


def test_token_rotation_reaches_every_worker_within_a_second(served: Served) -> None:
    assert set(_statuses(served, OLD_TOKEN, AES)) == {200}  # every worker has the connection cached
    assert set(_statuses(served, NEW_TOKEN, AES, 4)) == {403}
    rotated = served.cli("connection", "update", "acme", "--token", NEW_TOKEN)
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(WITHIN)
    assert set(_statuses(served, NEW_TOKEN, AES)) == {200}
    assert set(_statuses(served, OLD_TOKEN, AES)) == {403}


def test_aes_key_change_reaches_every_worker_within_a_second(served: Served) -> None:
    assert set(_statuses(served, OLD_TOKEN, AES)) == {200}
    assert set(_statuses(served, OLD_TOKEN, NEW_AES, 4)) == {400}  # cannot decrypt with a key it does not know
    changed = served.cli("connection", "update", "acme", "--encoding-aes-key", NEW_AES)
    assert changed.returncode == 0, changed.stderr
    time.sleep(WITHIN)
    assert set(_statuses(served, OLD_TOKEN, NEW_AES)) == {200}
    assert set(_statuses(served, OLD_TOKEN, AES)) == {200}  # the previous key still decrypts during the change
    dropped = served.cli("connection", "update", "acme", "--drop-previous-aes-key")
    assert dropped.returncode == 0, dropped.stderr
    time.sleep(WITHIN)
    assert set(_statuses(served, OLD_TOKEN, AES)) == {400}


def test_deletion_reaches_every_worker_within_a_second(served: Served) -> None:
    assert set(_statuses(served, OLD_TOKEN, AES)) == {200}
    deleted = served.cli("connection", "delete", "acme")
    assert deleted.returncode == 0, deleted.stderr
    time.sleep(WITHIN)
    assert set(_statuses(served, OLD_TOKEN, AES)) == {404}
