"""Parsing hostile and valid WeChat XML; scene extraction; reply rendering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp_bridge.simulator.push import render_event_xml, render_push_body
from idp_bridge.wechat import crypto, messages
from idp_bridge.wechat.messages import MalformedMessage

SUBSCRIBE = (
    b"<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oOPENID]]></FromUserName>"
    b"<CreateTime>1409735668</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
    b"<EventKey><![CDATA[qrscene_login_abc]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>"
)


def test_subscribe_from_qr_yields_scene_without_prefix() -> None:
    msg = messages.parse_message(messages.parse_xml(SUBSCRIBE))
    assert isinstance(msg, messages.SubscribeEvent)
    assert (msg.from_user, msg.create_time, msg.ticket) == ("oOPENID", 1409735668, "TICKET")
    assert messages.login_scene(msg, "login_") == "login_abc"
    assert messages.login_scene(msg, "other_") is None


def test_scan_event_name_is_case_insensitive_and_scene_is_bare() -> None:
    xml = render_event_xml("gh_abc", "oX", 1, "SCAN", "login_xyz", "T")
    msg = messages.parse_message(messages.parse_xml(xml.encode()))
    assert isinstance(msg, messages.ScanEvent) and msg.event == "scan"
    assert messages.login_scene(msg, "login_") == "login_xyz"


@pytest.mark.parametrize(
    ("event", "key"),
    [("subscribe", None), ("subscribe", ""), ("subscribe", "login_abc"), ("unsubscribe", None), ("CLICK", "login_a")],
)
def test_events_without_a_login_scene(event: str, key: str | None) -> None:
    msg = messages.parse_message(messages.parse_xml(render_event_xml("gh", "o", 1, event, key).encode()))
    assert messages.login_scene(msg, "login_") is None


def test_text_and_other_messages() -> None:
    text = messages.parse_message(
        {"ToUserName": "gh", "FromUserName": "o", "CreateTime": "5", "MsgType": "text", "Content": "hi", "MsgId": "9"}
    )
    assert isinstance(text, messages.TextMessage) and text.content == "hi"
    image = messages.parse_message({"ToUserName": "gh", "FromUserName": "o", "CreateTime": "5", "MsgType": "image"})
    assert isinstance(image, messages.OtherMessage)


def test_dedupe_key_is_stable_and_bounded() -> None:
    a = messages.parse_message(messages.parse_xml(SUBSCRIBE))
    b = messages.parse_message(messages.parse_xml(SUBSCRIBE))
    assert messages.dedupe_key(a) == messages.dedupe_key(b)
    xml = render_event_xml("gh", "o" * 300, 1, "SCAN", "k").encode()
    long = messages.parse_message(messages.parse_xml(xml))
    assert len(messages.dedupe_key(long)) <= 128


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><A>&a;</A></xml>',
        b'<!DOCTYPE xml SYSTEM "http://evil/x.dtd"><xml/>',
        b"<root><A>1</A></root>",
        b"<xml><A>1</A><A>2</A></xml>",
        b"<xml>" + b"<A>1</A>" * 300 + b"</xml>",
        b"<xml><A>\xff\xfe</A></xml>",
        b"<xml>" + b"x" * (messages.MAX_BODY_BYTES + 1) + b"</xml>",
    ],
    ids=["empty", "text", "entity", "external-dtd", "root", "duplicate", "many", "non-utf8", "oversize"],
)
def test_hostile_xml_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        messages.parse_xml(body)


@pytest.mark.parametrize("missing", ["ToUserName", "FromUserName", "CreateTime", "MsgType"])
def test_missing_required_fields_are_refused(missing: str) -> None:
    fields = {"ToUserName": "gh", "FromUserName": "o", "CreateTime": "1", "MsgType": "event", "Event": "subscribe"}
    del fields[missing]
    with pytest.raises(MalformedMessage):
        messages.parse_message(fields)


def test_reply_cannot_be_broken_out_of_cdata() -> None:
    reply = messages.render_text_reply("oX", "gh", "x]]><Evil>1</Evil>", 7)
    parsed = messages.parse_xml(reply.encode())
    assert parsed["Content"] == "x]]><Evil>1</Evil>" and "Evil" not in parsed


def test_push_bodies_for_each_mode() -> None:
    key, appid = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
    plain = render_event_xml("gh", "o", 1, "SCAN", "login_a")
    enc = crypto.encrypt(plain, key, appid)
    assert render_push_body("plaintext", plain, None, "gh") == plain
    safe = messages.parse_xml(render_push_body("safe", plain, enc, "gh").encode())
    assert safe == {"ToUserName": "gh", "Encrypt": enc}
    compatible = messages.parse_xml(render_push_body("compatible", plain, enc, "gh").encode())
    assert compatible["Encrypt"] == enc and compatible["Event"] == "SCAN"
    with pytest.raises(ValueError):
        render_push_body("weird", plain, enc, "gh")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_malformed(body: bytes) -> None:
    try:
        fields = messages.parse_xml(body)
        messages.parse_message(fields)
    except MalformedMessage:
        pass


@pytest.mark.parametrize("create_time", ["²", "١٢٣", "1" * 13, "-1", "1.5"])
def test_create_time_is_ascii_digits_only(create_time: str) -> None:
    xml = render_event_xml("gh", "o", 1, "SCAN", "k").replace("<CreateTime>1<", f"<CreateTime>{create_time}<")
    with pytest.raises(MalformedMessage):
        messages.parse_message(messages.parse_xml(xml.encode()))
