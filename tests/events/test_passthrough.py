"""Pass-through (SPEC §14): an unchanged WeChat backend — a small Flask app built on **wechatpy**'s
``check_signature`` and ``WeChatCrypto`` — receives every push the bridge does not consume, re-signed in the
connection's mode, and its passive reply reaches WeChat (the simulator's reader decrypts it). Login pushes are
never forwarded; a slow backend still gets WeChat a ``success`` within 5 s. Plaintext, compatible, safe."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from idp_bridge.simulator.push import build_push, read_reply, render_event_xml, render_text_message
from tests.support.live import LiveServer

APP_ID, TOKEN, GH, OPENID = "wx0123456789abcdef", "Token123", "gh_0123456789ab", "oPASSTHROUGH01"
AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class Backend:
    """The operator's existing server, unchanged: wechatpy verifies, decrypts, answers, encrypts."""

    def __init__(self, mode: str) -> None:
        self.mode, self.delay, self.seen = mode, 0.0, []  # type: ignore[var-annotated]
        self.server = LiveServer()
        app = Flask("backend")
        app.add_url_rule("/wechat", "wechat", self.handle, methods=["POST"])
        self.server.attach(app)
        self.server.start()

    def handle(self) -> Any:
        args = request.args
        check_signature(TOKEN, args["signature"], args["timestamp"], args["nonce"])  # raises if forged
        body = request.get_data()
        crypto = WeChatCrypto(TOKEN, AES, APP_ID) if self.mode != "plaintext" else None
        if crypto is not None:
            assert args["encrypt_type"] == "aes"
            body = crypto.decrypt_message(body, args["msg_signature"], args["timestamp"], args["nonce"]).encode()
        message = parse_message(body)
        self.seen.append(message)
        time.sleep(self.delay)
        text = f"echo {message.content}" if message.type == "text" else f"menu {getattr(message, 'key', '')}"
        xml = create_reply(text, message).render()
        return crypto.encrypt_message(xml, args["nonce"], args["timestamp"]) if crypto is not None else xml


@pytest.fixture(params=["plaintext", "compatible", "safe"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(mode: str) -> Iterator[Backend]:
    made = Backend(mode)
    yield made
    made.server.stop()


@pytest.fixture
def bridge(app: Flask, live_url: str, cli_run: Any, mode: str, backend: Backend) -> str:
    extra = ["--encoding-aes-key", AES] if mode != "plaintext" else []
    created = cli_run("connection", "create", "--identifier", "acme", "--display-name", "ACME", "--app-id", APP_ID,
                      "--app-secret", "0123456789abcdef0123456789abcdef", "--token", TOKEN, "--encryption", mode,
                      "--scene-prefix", "acme_", *extra, "--forward-url", backend.server.url + "/wechat", "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["forward_url"] == backend.server.url + "/wechat"
    return f"{live_url}/connections/social/acme/events"


def _wechat_sends(url: str, mode: str, xml: str) -> requests.Response:
    push = build_push(xml, token=TOKEN, mode=mode, app_id=APP_ID, openid=OPENID, to_user=GH,
                      encoding_aes_key=AES if mode != "plaintext" else None)
    return requests.post(url, params=push.params, data=push.body, timeout=10, headers={"Content-Type": "text/xml"})


def _reply(response: requests.Response, mode: str) -> str | None:
    return read_reply(response.content, token=TOKEN, app_id=APP_ID,
                      encoding_aes_key=AES if mode != "plaintext" else None)


def test_a_text_and_a_menu_click_reach_the_backend_and_its_reply_reaches_wechat(
        bridge: str, backend: Backend, mode: str) -> None:
    text = _wechat_sends(bridge, mode, render_text_message(GH, OPENID, "hello 你好", int(time.time()), 7001))
    assert text.status_code == 200 and _reply(text, mode) == "echo hello 你好"
    click = _wechat_sends(bridge, mode, render_event_xml(GH, OPENID, int(time.time()), "CLICK", "V1001_NEWS", None))
    assert click.status_code == 200 and _reply(click, mode) == "menu V1001_NEWS"
    assert _count("relayed") >= 2
    assert [m.type for m in backend.seen] == ["text", "event"] and backend.seen[0].source == OPENID
    if mode != "plaintext":
        assert b"echo" not in text.content  # the backend's encrypted reply went back unchanged


def test_a_login_scan_is_not_forwarded_but_a_plain_follow_is(bridge: str, backend: Backend, mode: str) -> None:
    login = _wechat_sends(bridge, mode, render_event_xml(GH, OPENID, int(time.time()), "SCAN", "acme_x1", "TICKET"))
    follow = _wechat_sends(bridge, mode, render_event_xml(GH, OPENID, int(time.time()), "subscribe",
                                                          "qrscene_acme_x2", "TICKET"))
    assert login.status_code == follow.status_code == 200 and backend.seen == []
    other = _wechat_sends(bridge, mode, render_event_xml(GH, OPENID, int(time.time()), "subscribe", None, None))
    assert other.status_code == 200 and [m.event for m in backend.seen] == ["subscribe"]


def test_a_slow_backend_still_gets_wechat_a_success_within_5_seconds(bridge: str, backend: Backend,
                                                                    mode: str) -> None:
    backend.delay = 6.0
    timeouts = _count("timeout")
    started = time.monotonic()
    response = _wechat_sends(bridge, mode, render_text_message(GH, OPENID, "slow", int(time.time()), 7002))
    took = time.monotonic() - started
    assert (response.status_code, response.text) == (200, "success") and took < 5.0
    assert _count("timeout") == timeouts + 1


def _count(outcome: str) -> float:
    """``idpb_passthrough_total{connection="acme", outcome=…}`` of this process (the bridge runs in it)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("idpb_passthrough_total", {"connection": "acme", "outcome": outcome}) or 0.0
