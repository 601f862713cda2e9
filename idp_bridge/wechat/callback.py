"""The WeChat server URL of a connection (SPEC §5, §7.4): the only Flask-aware module of ``wechat/``.

Order of checks, cheapest and most decisive first: connection exists (404) → query well-formed (400) →
timestamp within ±5 min and ``signature`` valid (403) → body size and XML (400) → ``msg_signature`` (403) and
decryption (400) when encrypted → de-duplication → the login handler. Any refusal writes nothing. The answer
is ``success`` or a passive reply; WeChat treats anything else as a failure of the account.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import crypto, messages
from idp_bridge.wechat.connections import ConnectionSecrets, connection_secrets, get_connection
from idp_bridge.wechat.dispatch import LoginEvent, login_event_handler, text_handler
from idp_bridge.wechat.models import Connection, ProcessedEvent

bp = Blueprint("wechat_callback", __name__)
log = logging.getLogger(__name__)

TIMESTAMP_WINDOW = 300
DEDUPE_RETENTION_SECONDS = 3600
_TIMESTAMP = re.compile(r"\d{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{40}")
_ECHOSTR = re.compile(r"[\x21-\x7e]{1,256}")


class Refusal(Exception):
    """A push we refuse; carries the HTTP status and a short reason (never a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """A push that passed every check: its message and, when encrypted, the AES key that worked."""

    message: messages.Message
    aes_key: str | None


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _query(name: str, pattern: re.Pattern[str]) -> str:
    value = request.args.get(name, "")
    if not pattern.fullmatch(value):
        raise Refusal(400, f"missing or malformed '{name}'")
    return value


def _check_signature(token: str) -> tuple[str, str]:
    timestamp = _query("timestamp", _TIMESTAMP)
    nonce = _query("nonce", _NONCE)
    signature = _query("signature", _SIGNATURE).lower()
    if abs(time.time() - int(timestamp)) > TIMESTAMP_WINDOW:
        raise Refusal(403, "timestamp outside the 5-minute window")
    if not crypto.signatures_equal(crypto.url_signature(token, timestamp, nonce), signature):
        raise Refusal(403, "bad signature")
    return timestamp, nonce


def _read_body() -> bytes:
    if (request.content_length or 0) > messages.MAX_BODY_BYTES:
        raise Refusal(400, "body too large")
    body = request.stream.read(messages.MAX_BODY_BYTES + 1)
    if len(body) > messages.MAX_BODY_BYTES:
        raise Refusal(400, "body too large")
    return body


def _verify_push(connection: Connection, secrets_: ConnectionSecrets) -> Verified:
    timestamp, nonce = _check_signature(secrets_.token)
    try:
        fields = messages.parse_xml(_read_body())
    except messages.MalformedMessage as exc:
        raise Refusal(400, str(exc)) from None
    encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
    if connection.encryption == "safe" and not encrypted:
        raise Refusal(400, "this connection is in safe mode: pushes must be encrypted")
    aes_key = None
    if encrypted:
        if not secrets_.aes_keys():
            raise Refusal(400, "encrypted push but the connection has no EncodingAESKey")
        encrypt = fields.get("Encrypt", "")
        if not encrypt:
            raise Refusal(400, "encrypted push without <Encrypt>")
        given = _query("msg_signature", _SIGNATURE).lower()
        if not crypto.signatures_equal(crypto.msg_signature(secrets_.token, timestamp, nonce, encrypt), given):
            raise Refusal(403, "bad msg_signature")
        try:
            plaintext, aes_key = crypto.decrypt_with_fallback(encrypt, secrets_.aes_keys(), connection.app_id)
            fields = messages.parse_xml(plaintext.encode())  # compatible mode: trust only the decrypted copy
        except crypto.WeChatCryptoError as exc:
            raise Refusal(400, f"cannot decrypt: {type(exc).__name__}") from None
        except messages.MalformedMessage as exc:
            raise Refusal(400, f"decrypted message: {exc}") from None
    try:
        return Verified(messages.parse_message(fields), aes_key)
    except messages.MalformedMessage as exc:
        raise Refusal(400, str(exc)) from None


def _claim(connection: Connection, message: messages.Message) -> ProcessedEvent | None:
    """Record the push as processed; ``None`` when another delivery (any worker) already did."""
    row = ProcessedEvent(connection_id=connection.id, dedupe_key=messages.dedupe_key(message))
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    if secrets.randbelow(100) == 0:  # occasional clean-up; re-deliveries stop after ~20 s
        cutoff = utcnow() - timedelta(seconds=DEDUPE_RETENTION_SECONDS)
        db.session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
        db.session.commit()
    return row


def _dispatch_text(connection: Connection, message: messages.TextMessage) -> str | None:
    """Chat texts matter only on connections that confirm logins in WeChat."""
    handler = text_handler(current_app._get_current_object())  # type: ignore[attr-defined]
    if handler is None or not connection.confirm_in_wechat or len(message.content) > 64:
        return None
    if _claim(connection, message) is None:
        return None
    return handler(connection.id, message.from_user, message.content)


def _dispatch(connection: Connection, verified: Verified) -> str | None:
    message = verified.message
    if isinstance(message, messages.TextMessage):
        return _dispatch_text(connection, message)
    scene = messages.login_scene(message, connection.scene_prefix)
    handler = login_event_handler(current_app._get_current_object())  # type: ignore[attr-defined]
    if scene is None or handler is None or not isinstance(message, messages.Event):
        return None
    claim = _claim(connection, message)
    if claim is None:
        log.info("re-delivered login event ignored on connection %s", connection.identifier)
        return None
    event = LoginEvent(
        connection_id=connection.id,
        connection_identifier=connection.identifier,
        app_id=connection.app_id,
        openid=message.from_user,
        scene=scene,
        kind="subscribe" if isinstance(message, messages.SubscribeEvent) else "scan",
        create_time=message.create_time,
        ticket=message.ticket,
    )
    try:
        return handler(event)
    except Exception:
        # Let WeChat's retry process the event again rather than lose the login.
        db.session.rollback()
        db.session.delete(db.session.merge(claim))
        db.session.commit()
        raise


def _reply(connection: Connection, secrets_: ConnectionSecrets, verified: Verified, text: str | None) -> Response:
    if not text:
        return _text("success")
    message = verified.message
    xml = messages.render_text_reply(message.from_user, message.to_user, text, int(time.time()))
    if verified.aes_key is None:
        return Response(xml, mimetype="application/xml")
    envelope = crypto.encrypt_reply(
        xml, verified.aes_key, connection.app_id, secrets_.token, str(int(time.time())), secrets.token_hex(8)
    )
    return Response(envelope, mimetype="application/xml")


@bp.route("/connections/social/<identifier>/events", methods=["GET", "POST"])
def events(identifier: str) -> Response:
    """GET: server URL verification (echo ``echostr``); POST: a push from WeChat."""
    connection = get_connection(identifier)
    if connection is None:
        return _text("unknown connection", 404)
    secrets_ = connection_secrets(current_app.config["SECRET_KEY"], connection)
    try:
        if request.method == "GET":
            _check_signature(secrets_.token)
            return _text(_query("echostr", _ECHOSTR))
        verified = _verify_push(connection, secrets_)
    except Refusal as refusal:
        log.warning("refused push on connection %s: %s", identifier, refusal.reason)
        return _text(refusal.reason, refusal.status)
    try:
        reply = _dispatch(connection, verified)
    except Exception:
        # Not "success": WeChat then re-delivers, and the claim was released so the retry is processed.
        log.exception("login handler failed on connection %s", identifier)
        return _text("temporarily unavailable", 503)
    return _reply(connection, secrets_, verified, reply)


def init_app(app: Flask) -> None:
    """Register the callback blueprint on ``app``."""
    app.register_blueprint(bp)
