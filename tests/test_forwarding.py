"""Mode 2: the forwarding helper sends login pushes unchanged to a running bridge and leaves the rest alone."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask

from idp_bridge.forwarding import NotForwardable, PlaintextModeUnsupported, forward, is_login_event
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


# --- SPEC §10/§15: mode 2 needs compatible or safe mode; only the signed, encrypted copy is read ---


def _plaintext_login_push() -> Any:
    xml = render_event_xml("gh_x", "oVICTIM", int(time.time()), "SCAN", "acme_attacker", "T")
    return build_push(xml, token=TOKEN, mode="plaintext", app_id=APP_ID, openid="oVICTIM", to_user="gh_x")


def test_forwarding_without_an_aes_key_is_refused_before_anything_is_sent(app: Flask, live_url: str,
                                                                          bridge: dict[str, Any]) -> None:
    with app.app_context():
        create_connection(app.config["SECRET_KEY"], identifier="plain", display_name="Plain", app_id=APP_ID,
                          app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption="plaintext",
                          scene_prefix="acme_")
    push = _plaintext_login_push()
    with pytest.raises(PlaintextModeUnsupported):
        forward(urlencode(push.params), push.body, f"{live_url}/connections/social/plain/events",
                scene_prefix="acme_", app_id=APP_ID)
    assert bridge["seen"] == []


def test_an_unencrypted_push_is_never_forwarded(bridge: dict[str, Any]) -> None:
    """A genuine query stripped of encrypt_type/msg_signature plus a plaintext login body: a downgrade."""
    genuine = _push("SCAN", "acme_abc")
    downgraded = {k: genuine.params[k] for k in ("signature", "timestamp", "nonce", "openid")}
    with pytest.raises(NotForwardable) as refused:
        forward(urlencode(downgraded), _plaintext_login_push().body, "http://127.0.0.1:9/unreachable",
                scene_prefix="acme_", app_id=APP_ID, encoding_aes_key=AES)
    assert refused.value.status == 403
    assert bridge["seen"] == []


def test_only_the_encrypted_copy_of_a_compatible_push_is_read() -> None:
    xml = render_event_xml("gh_x", "oUSER", int(time.time()), "SCAN", "crm_42", "T")
    push = build_push(xml, token=TOKEN, mode="compatible", app_id=APP_ID, openid="oUSER", to_user="gh_x",
                      encoding_aes_key=AES)
    outer_says_login = push.body.replace(b"crm_42", b"acme_abc", 1)
    assert not is_login_event(outer_says_login, scene_prefix="acme_", app_id=APP_ID, aes_keys=(AES,))
    assert not is_login_event(_plaintext_login_push().body, scene_prefix="acme_", app_id=APP_ID, aes_keys=(AES,))


def test_with_the_token_a_forgery_is_refused_without_reaching_the_bridge(bridge: dict[str, Any]) -> None:
    push, other = _push("SCAN", "acme_abc"), _push("SCAN", "acme_zzz")
    with pytest.raises(NotForwardable) as refused:
        forward(urlencode(push.params), other.body, "http://127.0.0.1:9/unreachable", scene_prefix="acme_",
                app_id=APP_ID, encoding_aes_key=AES, token=TOKEN)
    assert refused.value.status == 403


def test_with_the_token_a_genuine_push_is_forwarded(bridge: dict[str, Any]) -> None:
    push = _push("subscribe", "qrscene_acme_abc")
    answer = forward(urlencode(push.params), push.body, bridge["url"], scene_prefix="acme_", app_id=APP_ID,
                     encoding_aes_key=AES, token=TOKEN)
    assert answer is not None and answer.status == 200
    assert [e.scene for e in bridge["seen"]] == ["acme_abc"]
