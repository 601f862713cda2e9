"""The WeChat client: errcode mapping, retries, timeouts, secrets kept out of errors (with ``responses``),
and the client against the simulator over real loopback HTTP with the shared database token cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses
from flask import Flask

from idp_bridge.simulator.state import SimAccount, openid_for, unionid_for
from idp_bridge.simulator.views import create_simulator_app
from idp_bridge.wechat import errors
from idp_bridge.wechat.client import WeChatClient
from idp_bridge.wechat.token_cache import DatabaseTokenCache
from tests.support.live import LiveServer

API = "https://api.example.test"
APP_ID, SECRET = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"


class MemoryCache:
    """A trivial token cache for unit tests of the client alone."""

    def __init__(self) -> None:
        self.forced = 0

    def get(self, app_id: str, fetch: Callable[[bool], tuple[str, int]], force_refresh: bool = False) -> str:
        self.forced += force_refresh
        return fetch(force_refresh)[0]


def _client() -> tuple[WeChatClient, MemoryCache]:
    cache = MemoryCache()
    return WeChatClient(API, APP_ID, SECRET, cache), cache


@responses.activate
def test_qrcode_create_sends_expire_seconds_and_types_result() -> None:
    responses.post(f"{API}/cgi-bin/stable_token", json={"access_token": "TOK", "expires_in": 7200})
    responses.post(f"{API}/cgi-bin/qrcode/create", json={"ticket": "T", "expire_seconds": 300, "url": "http://w/q"})
    client, _ = _client()
    qr = client.create_qrcode("login_abc", 300)
    assert (qr.ticket, qr.url, qr.expire_seconds) == ("T", "http://w/q", 300)
    body = responses.calls[1].request.body
    assert b'"expire_seconds": 300' in body and b'"QR_STR_SCENE"' in body and b"login_abc" in body
    assert "access_token=TOK" in responses.calls[1].request.url


@responses.activate
def test_invalid_token_refreshes_once_then_succeeds() -> None:
    responses.post(f"{API}/cgi-bin/stable_token", json={"access_token": "TOK", "expires_in": 7200})
    responses.get(f"{API}/cgi-bin/user/info", json={"errcode": 40001, "errmsg": "invalid credential"})
    responses.get(f"{API}/cgi-bin/user/info", json={"subscribe": 1, "openid": "o1", "unionid": "u1"})
    client, cache = _client()
    info = client.user_info("o1")
    assert info.unionid == "u1" and info.subscribe and cache.forced == 1


@responses.activate
def test_busy_is_retried_once_only() -> None:
    responses.post(f"{API}/cgi-bin/stable_token", json={"access_token": "TOK", "expires_in": 7200})
    for _ in range(3):
        responses.get(f"{API}/cgi-bin/user/info", json={"errcode": -1, "errmsg": "system error"})
    client, _ = _client()
    with pytest.raises(errors.WeChatBusy):
        client.user_info("o1")
    assert sum(1 for c in responses.calls if "user/info" in c.request.url) == 2


@pytest.mark.parametrize(
    ("errcode", "errmsg", "cls", "fragment"),
    [
        (40164, "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist", errors.WeChatIpNotWhitelisted, "1.2.3.4"),
        (48001, "api unauthorized", errors.WeChatNotAuthorized, "verified service account"),
        (45009, "reach max api daily quota limit", errors.WeChatQuotaExceeded, "quota"),
        (40125, "invalid appsecret secret=" + SECRET, errors.WeChatBadCredentials, "AppSecret"),
    ],
)
@responses.activate
def test_errcodes_become_operator_readable_errors(errcode: int, errmsg: str, cls: type, fragment: str) -> None:
    responses.post(f"{API}/cgi-bin/stable_token", json={"errcode": errcode, "errmsg": errmsg})
    client, _ = _client()
    with pytest.raises(cls) as info:
        client.create_qrcode("login_x", 300)
    assert fragment in str(info.value) and SECRET not in str(info.value)


@responses.activate
def test_network_failure_and_garbage_are_unavailable() -> None:
    responses.post(f"{API}/cgi-bin/stable_token", body=requests.ConnectTimeout())
    client, _ = _client()
    with pytest.raises(errors.WeChatUnavailable):
        client.create_qrcode("login_x", 300)
    responses.replace(responses.POST, f"{API}/cgi-bin/stable_token", body="<html>")
    with pytest.raises(errors.WeChatUnavailable):
        client.create_qrcode("login_x", 300)
    assert "SECRET" not in repr(client) and SECRET not in repr(client)


def test_scene_and_expiry_are_validated_before_calling() -> None:
    client, _ = _client()
    with pytest.raises(ValueError):
        client.create_qrcode("", 300)
    with pytest.raises(ValueError):
        client.create_qrcode("x" * 65, 300)
    with pytest.raises(ValueError):
        client.create_qrcode("ok", 10)


@pytest.fixture
def simulator(tmp_path: Any) -> Iterator[str]:
    account = SimAccount(app_id=APP_ID, app_secret=SECRET, token="Token123", encryption="plaintext",
                         callback_url="http://127.0.0.1:9/unused")
    server = LiveServer()
    server.attach(create_simulator_app([account]))
    server.start()
    yield server.url
    server.stop()


def test_client_against_simulator_with_database_cache(app: Flask, simulator: str) -> None:
    with app.app_context():
        client = WeChatClient(simulator, APP_ID, SECRET, DatabaseTokenCache(app.config["SECRET_KEY"]))
        qr = client.create_qrcode("login_abc", 300)
        assert qr.url.startswith(simulator + "/qr/")
        requests.post(f"{simulator}/api/scan", json={"ticket": qr.ticket, "user": "Bob", "action": "follow"},
                      timeout=5)
        info = client.user_info(openid_for(APP_ID, "Bob"))
        assert info.subscribe and info.unionid == unionid_for("Bob")
    assert requests.get(f"{simulator}/control/calls", timeout=5).json()["stable_token"] == 1


def test_concurrent_workers_cause_one_stable_token_call(app: Flask, simulator: str) -> None:
    requests.post(f"{simulator}/control/delay", json={"endpoint": "stable_token", "seconds": 0.3}, timeout=5)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                client = WeChatClient(simulator, APP_ID, SECRET, DatabaseTokenCache(app.config["SECRET_KEY"]))
                client.create_qrcode("login_x", 300)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    calls = requests.get(f"{simulator}/control/calls", timeout=5).json()
    assert calls["stable_token"] == 1 and calls["qrcode_create"] == 8
    assert "token" not in calls  # cgi-bin/token is never used


def _calls(simulator: str) -> dict[str, int]:
    return dict(requests.get(f"{simulator}/control/calls", timeout=5).json())


def test_rejected_token_forces_one_refresh_at_most_every_30_seconds(app: Flask, simulator: str) -> None:
    from datetime import timedelta

    from idp_bridge.extensions import db
    from idp_bridge.timeutil import utcnow
    from idp_bridge.wechat.models import WeChatAccessToken

    with app.app_context():
        client = WeChatClient(simulator, APP_ID, SECRET, DatabaseTokenCache(app.config["SECRET_KEY"]))
        client.create_qrcode("login_a", 300)
        requests.post(f"{simulator}/control/fail", json={"endpoint": "qrcode_create", "errcode": 40001}, timeout=5)
        client.create_qrcode("login_b", 300)
        assert _calls(simulator)["stable_token"] == 1  # refreshed < 30 s ago: no forced refresh burnt
        db.session.execute(db.update(WeChatAccessToken).values(refreshed_at=utcnow() - timedelta(seconds=60)))
        db.session.commit()
        requests.post(f"{simulator}/control/fail", json={"endpoint": "qrcode_create", "errcode": 40001}, timeout=5)
        client.create_qrcode("login_c", 300)
    assert _calls(simulator)["stable_token"] == 2


WORKER_SCRIPT = """
import sys
from idp_bridge import create_app
from idp_bridge.wechat.client import WeChatClient
from idp_bridge.wechat.token_cache import DatabaseTokenCache
db_url, inst, key, api, app_id, secret = sys.argv[1:7]
app = create_app({"database_url": db_url, "instance_dir": inst, "secret_key": key})
with app.app_context():
    WeChatClient(api, app_id, secret, DatabaseTokenCache(key)).create_qrcode("login_p", 300)
"""


def test_concurrent_worker_processes_cause_one_stable_token_call(app: Flask, simulator: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    requests.post(f"{simulator}/control/delay", json={"endpoint": "stable_token", "seconds": 0.5}, timeout=5)
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    processes = [subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, database_url, str(tmp_path / f"i{n}"),
                                   app.config["SECRET_KEY"], simulator, APP_ID, SECRET], stderr=subprocess.PIPE)
                 for n in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()[-2000:]
    calls = _calls(simulator)
    assert calls["stable_token"] == 1 and calls["qrcode_create"] == 4
