"""Incoming WeChat XML → typed, frozen messages; and the passive reply we send back (DESIGN example 8).

Parsing is hostile-input safe: a size cap before parsing, DTDs and entities refused (defusedxml), a bounded
number of elements, UTF-8 only. Message types are chosen through a plain lookup table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from idp_bridge.numbers import BadNumber, parse_int

MAX_BODY_BYTES = 65536
MAX_ELEMENTS = 256
SUBSCRIBE_SCENE_PREFIX = "qrscene_"


class MalformedMessage(ValueError):
    """The body is not a well-formed, acceptable WeChat XML message."""


def parse_xml(body: bytes) -> dict[str, str]:
    """Top-level ``<xml>`` children as a flat ``{tag: text}``; nested elements are ignored."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("body is not UTF-8") from None
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise MalformedMessage("DOCTYPE and entities are not allowed")
    try:
        root: Element = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedMessage(f"not well-formed XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise MalformedMessage("root element must be <xml>")
    if sum(1 for _ in root.iter()) > MAX_ELEMENTS:
        raise MalformedMessage("too many elements")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields:
            raise MalformedMessage(f"duplicate element <{child.tag}>")
        fields[child.tag] = (child.text or "").strip() if len(child) == 0 else ""
    return fields


@dataclass(frozen=True)
class Message:
    """Fields every push has."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str


@dataclass(frozen=True)
class Event(Message):
    """An ``event`` push; ``event`` is lower-cased because WeChat mixes ``subscribe`` and ``SCAN``."""

    event: str
    event_key: str | None = None
    ticket: str | None = None


@dataclass(frozen=True)
class SubscribeEvent(Event):
    """A follow; from a parametric QR when ``event_key`` is ``qrscene_<scene>``."""


@dataclass(frozen=True)
class ScanEvent(Event):
    """An existing follower scanned a parametric QR; ``event_key`` is the bare scene."""


@dataclass(frozen=True)
class UnsubscribeEvent(Event):
    """An unfollow."""


@dataclass(frozen=True)
class OtherEvent(Event):
    """Any other event type (menu clicks, location, …): acknowledged and ignored."""


@dataclass(frozen=True)
class TextMessage(Message):
    """A text the user typed in the chat."""

    content: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class OtherMessage(Message):
    """Any other message type (image, voice, …), kept with its raw fields."""

    fields: Mapping[str, str] = field(default_factory=dict)


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise MalformedMessage(f"missing <{name}>")
    if len(value) > 512:
        raise MalformedMessage(f"<{name}> too long")
    return value


def _common(fields: Mapping[str, str]) -> dict[str, object]:
    try:  # ASCII digits only: str.isdigit accepts "²", which int() then refuses
        create_time = parse_int(_required(fields, "CreateTime"), maximum=10**12 - 1)
    except BadNumber:
        raise MalformedMessage("CreateTime must be a Unix timestamp") from None
    return {
        "to_user": _required(fields, "ToUserName"),
        "from_user": _required(fields, "FromUserName"),
        "create_time": create_time,
        "msg_type": _required(fields, "MsgType").lower(),
    }


def _event(cls: type[Event]) -> Callable[[Mapping[str, str]], Message]:
    def build(fields: Mapping[str, str]) -> Message:
        return cls(
            **_common(fields),  # type: ignore[arg-type]
            event=_required(fields, "Event").lower(),
            event_key=fields.get("EventKey") or None,
            ticket=fields.get("Ticket") or None,
        )

    return build


_EVENTS: dict[str, Callable[[Mapping[str, str]], Message]] = {
    "subscribe": _event(SubscribeEvent),
    "scan": _event(ScanEvent),
    "unsubscribe": _event(UnsubscribeEvent),
}


def _text(fields: Mapping[str, str]) -> Message:
    return TextMessage(**_common(fields), content=fields.get("Content", ""), msg_id=fields.get("MsgId", ""))  # type: ignore[arg-type]


def _other(fields: Mapping[str, str]) -> Message:
    return OtherMessage(**_common(fields), fields=dict(fields))  # type: ignore[arg-type]


def parse_message(fields: Mapping[str, str]) -> Message:
    """Choose the message class from ``MsgType`` (and ``Event``) through lookup tables."""
    msg_type = _required(fields, "MsgType").lower()
    if msg_type == "event":
        builder = _EVENTS.get(_required(fields, "Event").lower(), _event(OtherEvent))
        return builder(fields)
    if msg_type == "text":
        return _text(fields)
    return _other(fields)


def login_scene(message: Message, prefix: str) -> str | None:
    """The scene of a login QR scan (subscribe ``qrscene_<scene>`` or SCAN ``<scene>``) with our prefix."""
    if isinstance(message, SubscribeEvent) and message.event_key:
        if not message.event_key.startswith(SUBSCRIBE_SCENE_PREFIX):
            return None
        scene = message.event_key[len(SUBSCRIBE_SCENE_PREFIX) :]
    elif isinstance(message, ScanEvent) and message.event_key:
        scene = message.event_key
    else:
        return None
    if not prefix or not scene.startswith(prefix) or len(scene) > 64:
        return None
    return scene


def dedupe_key(message: Message) -> str:
    """Identity of one push across WeChat's re-deliveries (events carry no MsgId)."""
    if isinstance(message, TextMessage) and message.msg_id:
        raw = f"msg|{message.msg_id}"
    else:
        event = message.event if isinstance(message, Event) else message.msg_type
        key = message.event_key if isinstance(message, Event) else ""
        raw = f"{message.from_user}|{message.create_time}|{event}|{key or ''}"
    return raw if len(raw) <= 128 else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def cdata(value: str) -> str:
    """CDATA that cannot be broken out of: a ``]]>`` inside is split across two sections."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply (sent back in the HTTP response to a push)."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )
