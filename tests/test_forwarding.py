"""Mode 2: the forwarding helper sends login pushes unchanged to a running bridge and leaves the rest alone."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask

from idp_bridge.forwarding import forward, is_login_event
from idp_bridge.simulator.push import build_push, read_reply, render_event_xml
from idp_bridge.wechat.connections import create_connection
from idp_bridge.wechat.dispatch import LoginEvent, set_login_event_handler

APP_ID, TOKEN, AES = "wx0123456789abcdef", "Token123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def bridge(app: Flask, live_url: str) -> dict[str, Any]:
    seen: list[LoginEvent] = []
    set_login_event_handler(app, lambda event: seen.append(event) or "welcome")  # type: ignore[func-returns-value]
    with app.app_context():
        create_connection(app.config["SECRET_KEY"], identifier="acme", display_name="ACME", app_id=APP_ID,
                          app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption="safe",
                          encoding_aes_key=AES, scene_prefix="acme_")
    return {"url": f"{live_url}/connections/social/acme/events", "seen": seen}


def _push(event: str, key: str | None) -> Any:
    xml = render_event_xml("gh_x", "oUSER", int(time.time()), event, key, "T")
    return build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid="oUSER", to_user="gh_x",
                      encoding_aes_key=AES)


def test_login_push_is_forwarded_and_answered(bridge: dict[str, Any]) -> None:
    push = _push("subscribe", "qrscene_acme_abc")
    answer = forward(urlencode(push.params), push.body, bridge["url"], scene_prefix="acme_", app_id=APP_ID,
                     encoding_aes_key=AES)
    assert answer is not None and answer.status == 200
    assert read_reply(answer.body, token=TOKEN, app_id=APP_ID, encoding_aes_key=AES) == "welcome"
    assert [e.scene for e in bridge["seen"]] == ["acme_abc"]


@pytest.mark.parametrize(("event", "key"), [("subscribe", None), ("SCAN", "crm_42"), ("CLICK", "acme_x"),
                                            ("unsubscribe", None)])
def test_other_pushes_stay_with_the_caller(bridge: dict[str, Any], event: str, key: str | None) -> None:
    push = _push(event, key)
    assert forward(urlencode(push.params), push.body, bridge["url"], scene_prefix="acme_", app_id=APP_ID,
                   encoding_aes_key=AES) is None
    assert bridge["seen"] == []


def test_a_rewritten_body_is_refused_by_the_bridge(bridge: dict[str, Any]) -> None:
    push = _push("SCAN", "acme_abc")
    other = _push("SCAN", "acme_zzz")  # validly encrypted, but not what WeChat signed for this query
    answer = forward(urlencode(push.params), other.body, bridge["url"], scene_prefix="acme_", app_id=APP_ID,
                     encoding_aes_key=AES)
    assert answer is not None and answer.status == 403
    assert bridge["seen"] == []


def test_garbage_is_not_a_login_event() -> None:
    assert not is_login_event(b"<xml><Encrypt>nope</Encrypt></xml>", scene_prefix="acme_", app_id=APP_ID,
                              aes_keys=(AES,))
    assert not is_login_event(b"\xff\xfe", scene_prefix="acme_", app_id=APP_ID)
