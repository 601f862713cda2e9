"""The WeChat server URL of a connection (SPEC §5, §7.4): the only Flask-aware module of ``wechat/``.

It adapts the request for :func:`inbound.verify_push` (which decides what is trusted), claims the push so that
every worker processes it once (:mod:`claims`), dispatches it to the login package and renders the answer:
``success`` or a passive reply, which WeChat expects within 5 s; anything else counts as a failure and
makes WeChat re-deliver. Any refusal writes nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Flask, Response, current_app, request

from idp_bridge import signals
from idp_bridge.wechat import claims, connection_cache, crypto, health, inbound, messages
from idp_bridge.wechat.connection_cache import CachedConnection as Connection
from idp_bridge.wechat.connections import ConnectionSecrets
from idp_bridge.wechat.dispatch import (
    ClaimPush,
    LoginEvent,
    TextOutcome,
    claiming_login_event_handler,
    login_event_handler,
    text_handler,
)

bp = Blueprint("wechat_callback", __name__)
log = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(Exception):
    """Another worker holds a live claim on this push: answer 503 so that WeChat re-delivers it later."""


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _read_body() -> bytes:
    if (request.content_length or 0) > messages.MAX_BODY_BYTES:
        raise inbound.MalformedPush("body too large")
    body = request.stream.read(messages.MAX_BODY_BYTES + 1)
    if len(body) > messages.MAX_BODY_BYTES:
        raise inbound.MalformedPush("body too large")
    return body


def _claimed(connection: Connection, message: messages.Message) -> claims.Claim | None:
    """This worker's claim on the push, ``None`` for a duplicate already processed; :class:`Busy` otherwise.
    The claim commits with the handler's first commit, or with its completion."""
    outcome = claims.claim(connection.id, messages.dedupe_key(message), commit=False)
    if outcome.status == "busy":
        raise Busy
    if outcome.status == "done":
        log.info("re-delivered push ignored on connection %s", connection.identifier)
        return None
    return outcome


def _run_claimed(connection: Connection, message: messages.Message, work: Callable[[], T]) -> T | None:
    """Run ``work`` under a claim: marked done after it returns, released if it raises (WeChat retries)."""
    outcome = _claimed(connection, message)
    if outcome is None:
        return None
    try:
        reply = work()
    except Exception:
        claims.release(outcome)
        raise
    claims.complete(outcome)
    return reply


class _Claim:
    """A claim taken on first call (:data:`~idp_bridge.wechat.dispatch.ClaimPush`), so that a push that
    changes nothing writes nothing."""

    def __init__(self, connection: Connection, message: messages.Message) -> None:
        self.connection, self.message = connection, message
        self.outcome: claims.Claim | None = None
        self.duplicate = False

    def __call__(self) -> bool:
        if self.outcome is None and not self.duplicate:
            self.outcome = _claimed(self.connection, self.message)  # raises Busy
            self.duplicate = self.outcome is None
        return self.outcome is not None


def _run_claiming(connection: Connection, message: messages.Message, work: Callable[[ClaimPush], T],
                  *, eager: bool) -> T | None:
    """Run ``work``, which takes the claim when it has something to change (at once when ``eager``); a claim
    taken is completed after ``work`` returns and released if it raises, as in :func:`_run_claimed`."""
    claim = _Claim(connection, message)
    if eager and not claim():
        return None
    try:
        reply = work(claim)
    except Exception:
        if claim.outcome is not None:
            claims.release(claim.outcome)
        raise
    if claim.outcome is not None:
        claims.complete(claim.outcome)
    return reply


def _dispatch_text(connection: Connection, message: messages.TextMessage) -> TextOutcome | None:
    """A chat text to the login package, on connections that confirm in WeChat or sign in by code (SPEC §13);
    ``None`` for a re-delivery already processed. The outcome says whether the login package consumed it."""
    on_text = text_handler(current_app._get_current_object())  # type: ignore[attr-defined]
    if on_text is None or not (connection.confirm_in_wechat or connection.code_login) or len(message.content) > 64:
        return TextOutcome(False)
    return _run_claimed(connection, message, lambda: on_text(connection.id, message.from_user, message.content))


def _dispatch(connection: Connection, message: messages.Message) -> tuple[str | None, bool]:
    """The passive reply text, and whether the bridge consumed the push (a login event of the connection's
    scene prefix, or a login text): only unconsumed pushes are passed through (SPEC §14)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if isinstance(message, messages.TextMessage):
        outcome = _dispatch_text(connection, message)
        return (outcome.reply, outcome.consumed) if outcome is not None else (None, True)
    scene = messages.login_scene(message, connection.scene_prefix)
    on_login = login_event_handler(app)
    claiming = claiming_login_event_handler(app)
    if scene is None or (on_login is None and claiming is None) or not isinstance(message, messages.Event):
        if isinstance(message, messages.SubscribeEvent | messages.UnsubscribeEvent):
            _run_claimed(connection, message, lambda: _followed(connection, message, None))
        return None, False
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

    if claiming is not None:
        # A follow is reported under its claim whatever the scene's state, so it claims at once; a scan claims
        # only when the login package finds a live session to change.
        def follow_then_claiming_login(claim: ClaimPush) -> str | None:
            _followed(connection, message, scene)
            return claiming(event, claim)

        eager = isinstance(message, messages.SubscribeEvent)
        return _run_claiming(connection, message, follow_then_claiming_login, eager=eager), True

    def follow_then_login() -> str | None:
        _followed(connection, message, scene)
        return on_login(event) if on_login is not None else None

    return _run_claimed(connection, message, follow_then_login), True


def _followed(connection: Connection, message: messages.Message, scene: str | None) -> None:
    """Report every follow and unfollow, login scene or not, once per push under its claim (SPEC §14): the
    observers' rows commit with the claim's completion."""
    if isinstance(message, messages.SubscribeEvent | messages.UnsubscribeEvent):
        kind = "subscribe" if isinstance(message, messages.SubscribeEvent) else "unsubscribe"
        signals.follow_changed.send(None, connection_id=connection.id, openid=message.from_user, kind=kind,
                                    scene=scene)


def _reply(connection: Connection, secrets_: ConnectionSecrets, verified: inbound.VerifiedPush,
           text: str | None) -> Response:
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
    connection = connection_cache.get(identifier)
    if connection is None:
        return _text("unknown connection", 404)
    secrets_ = connection.secrets
    params = request.args.to_dict(flat=True)
    try:
        if request.method == "GET":
            return _text(inbound.verify_url(params, secrets_.token, time.time()))
        body = _read_body()
        verified = inbound.verify_push(params, body, secrets_, connection.encryption, connection.app_id,
                                       time.time(), claims.DatabaseReplayGuard(connection.id))
    except inbound.PushRefused as refusal:
        log.warning("refused push on connection %s: %s", identifier, refusal.reason)
        health.record_refusal(connection.id, refusal.reason)
        return _text(refusal.reason, refusal.status)
    message = verified.message
    health.record_event(connection.id, message.event if isinstance(message, messages.Event) else message.msg_type)
    try:
        reply, consumed = _dispatch(connection, verified.message)
    except Busy:
        log.info("push on connection %s is being processed by another worker; asking WeChat to retry",
                 identifier)
        return _text("busy, retry", 503)
    except Exception:
        # Not "success": WeChat then re-delivers, and the claim was released so the retry is processed.
        log.exception("login handler failed on connection %s", identifier)
        return _text("temporarily unavailable", 503)
    if not consumed and not reply:
        from idp_bridge.events import passthrough

        forwarded = passthrough.forward(connection, secrets_, verified, body)
        if forwarded is not None:
            return forwarded
    return _reply(connection, secrets_, verified, reply)


def init_app(app: Flask) -> None:
    """Register the callback blueprint on ``app``."""
    app.register_blueprint(bp)
