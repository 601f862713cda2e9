"""The callback over real HTTP in plaintext, compatible and safe modes, with every kind of bad push."""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import pytest
import requests
from Crypto.Cipher import AES
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.simulator.push import build_push, read_reply, render_event_xml, render_push_body
from idp_bridge.wechat import crypto, messages
from idp_bridge.wechat.connections import update_connection
from idp_bridge.wechat.models import Connection, ProcessedEvent
from tests.wechat.conftest import APP_ID, GH, KEY, TOKEN, Recorder
from tests.wechat.conftest import url as _url


def _event(event: str = "subscribe", key: str | None = "qrscene_login_abc", openid: str = "oUSER",
           create_time: int | None = None) -> str:
    return render_event_xml(GH, openid, create_time or int(time.time()), event, key, "TICKET")


def _push(conn: dict[str, Any], xml: str, **kw: Any) -> Any:
    return build_push(xml, token=TOKEN, mode=conn["mode"], app_id=APP_ID, openid="oUSER", to_user=GH,
                      encoding_aes_key=conn["key"], **kw)


def _post(base: str, push: Any, body: bytes | None = None, **params: str) -> requests.Response:
    return requests.post(_url(base), params={**push.params, **params}, data=push.body if body is None else body,
                         timeout=10)


def _rows(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) or 0


def test_url_verification(live_url: str, conn: dict[str, Any]) -> None:
    ts, nonce = str(int(time.time())), "12345"
    sig = crypto.url_signature(TOKEN, ts, nonce)
    ok = requests.get(_url(live_url), params={"signature": sig, "timestamp": ts, "nonce": nonce, "echostr": "4375"},
                      timeout=5)
    assert (ok.status_code, ok.text) == (200, "4375")
    bad = requests.get(_url(live_url), params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce,
                                                "echostr": "1"}, timeout=5)
    assert bad.status_code == 403
    stale = str(int(time.time()) - 400)
    old = requests.get(_url(live_url), params={"signature": crypto.url_signature(TOKEN, stale, nonce),
                                                "timestamp": stale, "nonce": nonce, "echostr": "1"}, timeout=5)
    assert old.status_code == 403
    assert requests.get(_url(live_url), timeout=5).status_code == 400
    assert requests.get(_url(live_url, "nope"), timeout=5).status_code == 404


@pytest.mark.parametrize(("event", "key", "kind"), [("subscribe", "qrscene_login_abc", "subscribe"),
                                                     ("SCAN", "login_abc", "scan")])
def test_login_event_reaches_handler_and_gets_passive_reply(
    live_url: str, conn: dict[str, Any], recorder: Recorder, event: str, key: str, kind: str
) -> None:
    response = _post(live_url, _push(conn, _event(event, key)))
    assert response.status_code == 200
    assert [(e.scene, e.kind, e.openid, e.ticket) for e in recorder.events] == [("login_abc", kind, "oUSER", "TICKET")]
    reply = read_reply(response.content, token=TOKEN, app_id=APP_ID, encoding_aes_key=conn["key"])
    assert reply == "欢迎 <b>登录</b> ]]> done"
    if conn["mode"] != "plaintext":
        assert b"oUSER" not in response.content  # encrypted reply


def test_redelivery_reaches_handler_once(live_url: str, conn: dict[str, Any], recorder: Recorder,
                                         app: Flask) -> None:
    xml = _event(create_time=int(time.time()))
    first = _post(live_url, _push(conn, xml))
    second = _post(live_url, _push(conn, xml))  # WeChat re-signs every delivery
    assert first.status_code == second.status_code == 200
    assert second.text == "success"
    assert len(recorder.events) == 1 and _rows(app) == 1


@pytest.mark.parametrize("xml", [
    _event("subscribe", None), _event("subscribe", "qrscene_other_1"), _event("SCAN", "other_1"),
    _event("unsubscribe", None), _event("CLICK", "login_abc"),
    messages.render_text_reply(GH, "oUSER", "hello", 1).replace("text", "text"),
])
def test_other_events_answer_success_and_store_nothing(live_url: str, conn: dict[str, Any], recorder: Recorder,
                                                       app: Flask, xml: str) -> None:
    response = _post(live_url, _push(conn, xml))
    assert (response.status_code, response.text) == (200, "success")
    # Follows and unfollows are claimed (processed once: SPEC §14 reports every one), but reach no login.
    follow = "<Event><![CDATA[subscribe]]>" in xml or "<Event><![CDATA[unsubscribe]]>" in xml
    assert recorder.events == [] and _rows(app) == (1 if follow else 0)


def _bad_padding_ciphertext() -> str:
    key = crypto.aes_key_bytes(KEY)
    raw = b"r" * 16 + struct.pack(">I", 3) + b"<x>" + APP_ID.encode()
    raw += b"\x05" * (32 - len(raw) % 32 - 1) + b"\x07"  # inconsistent padding bytes
    return base64.b64encode(AES.new(key, AES.MODE_CBC, iv=key[:16]).encrypt(raw)).decode()


def _encrypted_variant(conn: dict[str, Any], kind: str) -> tuple[dict[str, str], bytes]:
    xml = _event()
    ts, nonce = str(int(time.time())), "999"
    if kind == "wrong-key":
        enc = crypto.encrypt(xml, "Z" * 43, APP_ID)
    elif kind == "wrong-appid":
        enc = crypto.encrypt(xml, KEY, "wxffffffffffffffff")
    elif kind == "truncated":
        enc = crypto.encrypt(xml, KEY, APP_ID)[:-24]
    else:
        enc = _bad_padding_ciphertext()
    params = {"signature": crypto.url_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
              "encrypt_type": "aes", "msg_signature": crypto.msg_signature(TOKEN, ts, nonce, enc)}
    return params, render_push_body(conn["mode"], xml, enc, GH).encode()


@pytest.mark.parametrize("mode", ["compatible", "safe"])
@pytest.mark.parametrize("kind", ["wrong-key", "wrong-appid", "truncated", "bad-padding"])
def test_undecryptable_pushes_are_400(live_url: str, conn: dict[str, Any], recorder: Recorder, app: Flask,
                                      kind: str) -> None:
    params, body = _encrypted_variant(conn, kind)
    response = requests.post(_url(live_url), params=params, data=body, timeout=5)
    assert response.status_code == 400, response.text
    assert recorder.events == [] and _rows(app) == 0


HOSTILE = {
    "doctype": b'<!DOCTYPE xml [<!ENTITY a "b">]><xml><A>&a;</A></xml>',
    "bomb": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l2 "&lol;&lol;&lol;">]>'
            b"<xml><ToUserName>&l2;</ToUserName></xml>",
    "one-megabyte": b"<xml>" + b"A" * (1024 * 1024) + b"</xml>",
    "non-utf8": b"<xml><ToUserName>\xff\xfe\xfa</ToUserName></xml>",
    "not-xml": b"{\"json\": true}",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_are_400_with_valid_signature(live_url: str, conn: dict[str, Any], recorder: Recorder,
                                                     app: Flask, name: str) -> None:
    push = _push(conn, _event())
    response = _post(live_url, push, body=HOSTILE[name])
    assert response.status_code == 400, response.text
    assert recorder.events == [] and _rows(app) == 0


@pytest.mark.parametrize("tamper", ["signature", "msg_signature", "timestamp", "nonce-missing"])
def test_bad_signatures_and_stale_timestamps(live_url: str, conn: dict[str, Any], recorder: Recorder, app: Flask,
                                             tamper: str) -> None:
    if tamper == "timestamp":
        push = _push(conn, _event(), timestamp=int(time.time()) - 301)
        response = _post(live_url, push)
    elif tamper == "nonce-missing":
        push = _push(conn, _event())
        params = dict(push.params)
        del params["nonce"]
        response = requests.post(_url(live_url), params=params, data=push.body, timeout=5)
    else:
        push = _push(conn, _event())
        response = _post(live_url, push, **{tamper: "f" * 40})
    if tamper == "msg_signature" and conn["mode"] == "plaintext":
        assert response.status_code == 200  # plaintext pushes carry no msg_signature: the extra one is ignored
        return
    assert response.status_code in ((400,) if tamper == "nonce-missing" else (403,)), response.text
    assert recorder.events == [] and _rows(app) == 0


@pytest.mark.parametrize("mode", ["compatible"])
def test_compatible_mode_trusts_only_the_decrypted_copy(live_url: str, app: Flask, recorder: Recorder,
                                                        mode: str, conn: dict[str, Any]) -> None:
    real = _event("SCAN", "login_real")
    push = _push(conn, real)
    forged_body = push.body.replace(b"login_real", b"login_forged", 1)
    assert b"login_forged" in forged_body
    response = _post(live_url, push, body=forged_body)
    assert response.status_code == 200
    assert [e.scene for e in recorder.events] == ["login_real"]


@pytest.mark.parametrize("mode", ["safe"])
def test_safe_connection_refuses_plaintext_pushes(live_url: str, app: Flask, recorder: Recorder, mode: str,
                                                  conn: dict[str, Any]) -> None:
    push = build_push(_event(), token=TOKEN, mode="plaintext", app_id=APP_ID, openid="oUSER", to_user=GH)
    assert _post(live_url, push).status_code == 403  # nothing signs a plaintext body (SPEC §15)
    assert recorder.events == [] and _rows(app) == 0


@pytest.mark.parametrize("mode", ["compatible", "safe"])
def test_previous_key_still_decrypts_and_reply_uses_it(live_url: str, app: Flask, recorder: Recorder, mode: str,
                                                       conn: dict[str, Any]) -> None:
    with app.app_context():
        row = db.session.scalar(db.select(Connection))
        assert row is not None
        update_connection(app.config["SECRET_KEY"], row, encoding_aes_key="N" * 43)
    response = _post(live_url, _push(conn, _event()))  # still encrypted with the old key
    assert response.status_code == 200
    assert read_reply(response.content, token=TOKEN, app_id=APP_ID, encoding_aes_key=KEY) is not None
    assert len(recorder.events) == 1


def test_handler_failure_is_503_and_the_retry_is_processed(live_url: str, conn: dict[str, Any],
                                                           recorder: Recorder, app: Flask) -> None:
    xml = _event()
    recorder.fail = True
    assert _post(live_url, _push(conn, xml)).status_code == 503
    assert _rows(app) == 0
    recorder.fail = False
    assert _post(live_url, _push(conn, xml)).status_code == 200
    assert len(recorder.events) == 1


@pytest.mark.parametrize("mode", ["plaintext"])
def test_encrypted_push_to_plaintext_connection_is_400(live_url: str, app: Flask, recorder: Recorder, mode: str,
                                                       conn: dict[str, Any]) -> None:
    push = build_push(_event(), token=TOKEN, mode="safe", app_id=APP_ID, openid="oUSER", to_user=GH,
                      encoding_aes_key=KEY)
    assert _post(live_url, push).status_code == 400
    assert recorder.events == [] and _rows(app) == 0
