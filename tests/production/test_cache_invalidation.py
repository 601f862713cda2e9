"""SPEC §16: applications and signing keys are cached per worker process, and a change made anywhere —
here by the CLI, another process — takes effect in every worker within 1 s (``idp_bridge.cache``)."""

from __future__ import annotations

import http.client
import json
import time
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.production.conftest import Served, migrated_env, running_serve

WORKERS = 4
REQUESTS = 48  # each on a new connection, so the requests spread over the workers
SETTLE_SECONDS = 1.0


def _token_attempt(served: Served, client_id: str, secret: str, source: str) -> int:
    """A token request with a bogus code: 400 (invalid_grant) means the client authenticated, 401 not."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10, source_address=(source, 0))
    basic = b64encode(f"{client_id}:{secret}".encode()).decode()
    conn.request("POST", "/oauth/token", urlencode({"grant_type": "authorization_code", "code": "bogus",
                                                   "redirect_uri": "http://127.0.0.1:9/callback"}),
                 {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    status = conn.getresponse().status
    conn.close()
    return status


def _kids(served: Served) -> set[str]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("GET", "/oauth/jwks")
    keys = json.loads(conn.getresponse().read())["keys"]
    conn.close()
    return {k["kid"] for k in keys}


@pytest.fixture
def four_workers(empty_database_url: str, tmp_path: Path) -> Served:
    env, port = migrated_env(empty_database_url, tmp_path)
    with running_serve(env, port, "--workers", str(WORKERS), "--threads", "4") as served:
        yield served  # type: ignore[misc]


def test_secret_rotation_reaches_every_worker_within_a_second(four_workers: Served) -> None:
    created = four_workers.cli("client", "create", "--name", "Shop", "--redirect-uri",
                               "http://127.0.0.1:9/callback", "--json")
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    old = client["client_secret"]
    assert {_token_attempt(four_workers, client["client_id"], old, "127.0.0.1") for _ in range(REQUESTS)} == {400}

    rotated = four_workers.cli("client", "rotate-secret", client["client_id"], "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["client_secret"]
    time.sleep(SETTLE_SECONDS)

    # Old-secret attempts are failures: spread them over loopback addresses, under the lock-out's 10 per address.
    sources = [f"127.0.0.{2 + i // 8}" for i in range(REQUESTS)]
    assert {_token_attempt(four_workers, client["client_id"], old, s) for s in sources} == {401}
    assert {_token_attempt(four_workers, client["client_id"], new, "127.0.0.1") for _ in range(REQUESTS)} == {400}


def test_key_rotation_reaches_every_worker_within_a_second(four_workers: Served) -> None:
    before = [_kids(four_workers) for _ in range(REQUESTS)]
    assert all(kids == before[0] and len(kids) == 1 for kids in before)

    rotated = four_workers.cli("keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(SETTLE_SECONDS)

    after = [_kids(four_workers) for _ in range(REQUESTS)]
    assert all(len(kids) == 2 and before[0] < kids for kids in after), after
