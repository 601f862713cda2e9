"""The login event handler (implements ``wechat.dispatch``): a verified scan of a live scene becomes a
decision about a user. It runs inside WeChat's 5-second window, so the ``user/info`` call is bounded and its
failure never fails the login (the unionid is then filled in on a later login).

One scanner per login session (SPEC §15): the first verified event fixes the session's openid by a
compare-and-set ``waiting → scanned``; every later move is conditioned on that openid, so an event from any
other WeChat user (somebody who saw the QR code over a shoulder or on a shared screen) changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import bindparam, select

from idp_bridge import audit, autocommit, signals
from idp_bridge.accounts.resolve import Outcome, resolve
from idp_bridge.cache.versions import database_key, is_private_database
from idp_bridge.extensions import db
from idp_bridge.login import sessions
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import LIVE, State
from idp_bridge.oidc.client_cache import find_client
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import connection_cache
from idp_bridge.wechat.connection_cache import CachedConnection
from idp_bridge.wechat.dispatch import ClaimPush, LoginEvent, TextOutcome
from idp_bridge.wechat.errors import WeChatError
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)
USER_INFO_TIMEOUT = 1.5
#: how long a fixed scanner may wait for WeChat's user/info before the page is shown "scanned" on its own
SCANNED_UNANNOUNCED_SECONDS = 0.25
#: ``user/info`` calls started before the scanner's move (:func:`_unionid_meanwhile`); threads start on demand
_USER_INFO = ThreadPoolExecutor(32, thread_name_prefix="idpb-userinfo")
MAX_CONFIRM_ATTEMPTS = 3
BEIJING = timezone(timedelta(hours=8))
CONFIRM_PROMPT = ("要登录「{app}」，请在此对话中回复登录页上显示的 4 位数字。"
                  "/ To sign in to {app}, reply with the 4-digit code shown on the login page.")
CONFIRMED = "已确认，登录成功。/ Confirmed: you are signed in."
CONFIRM_WRONG = "数字不正确，请核对登录页。/ That code does not match the login page."
CONFIRM_REFUSED = "错误次数过多，登录已取消。/ Too many wrong codes: the sign-in was cancelled."
IN_USE = ("此二维码已被他人扫描，无法用于您的登录。/ This QR code is already being used by someone else: "
          "it cannot sign you in.")


def unionid_of(connection: Connection | CachedConnection, openid: str) -> str | None:
    try:
        return client_for(connection).user_info(openid, timeout=USER_INFO_TIMEOUT).unionid
    except WeChatError as exc:
        log.warning("user/info failed for a login on %s (%s); continuing without unionid",
                    connection.identifier, exc.errcode)
        return None


def _unionid_meanwhile(connection: CachedConnection, openid: str) -> Future[str | None]:
    """:func:`unionid_of` started on a thread of its own, so that WeChat's ``user/info`` round trip overlaps the
    scanner's compare-and-set and its commit instead of following them (SPEC §16: scan → application). It
    runs in an application context of its own (its own database session: a failure's error count is written
    there). An in-memory SQLite database has one connection for every thread, so there it runs in this one."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if is_private_database(database_key(db.engine.url)):
        done: Future[str | None] = Future()
        done.set_result(unionid_of(connection, openid))
        return done

    def look_up() -> str | None:
        with app.app_context():
            return unionid_of(connection, openid)

    return _USER_INFO.submit(look_up)


def _scanner_state(session_id: str, state: str, scanner: str | None, openid: str, followed: bool) -> State | None:
    """The session's state once ``openid`` is its scanner (it just became it, or already was); ``None`` when
    another WeChat user is. ``state`` and ``scanner`` are the row as read before the claim (:data:`_LIVE_SCENE`);
    ``followed``: the push is a follow (``subscribe``), recorded with the scanner it fixes."""
    if state == State.WAITING.value:
        if sessions.transition(session_id, State.WAITING, State.SCANNED, openid=openid, followed=followed,
                               event_at=utcnow(), announce=False):  # the caller announces it (handle_login_event)
            return State.SCANNED  # known without reading the row again
        # somebody moved it first: what is it now?
        now = db.session.connection().execute(_SCANNER, {"id": session_id}).one()
        state, scanner = now.state, now.openid
    if scanner is not None and secrets.compare_digest(scanner, openid):
        return State(state)
    return None


# Built once, in Core (the ORM's per-statement work was a sixth of a dead-scene push's CPU): the scan of a dead
# scene is the callback's commonest push and this read is all it costs; a live one also needs the columns that
# decide it and the application's client id (for the reply's name), so no second read follows.
_SESSIONS = LoginSession.__table__
_PENDING = PendingAuthorization.__table__
_LIVE_SCENE = (select(_SESSIONS.c.id, _SESSIONS.c.state, _SESSIONS.c.expires_at, _SESSIONS.c.pending_id,
                      _SESSIONS.c.openid, _PENDING.c.client_id)
               .select_from(_SESSIONS.outerjoin(_PENDING, _PENDING.c.id == _SESSIONS.c.pending_id))
               .where(_SESSIONS.c.connection_id == bindparam("connection_id"), _SESSIONS.c.scene == bindparam("scene")))
_SCANNER = select(_SESSIONS.c.state, _SESSIONS.c.openid).where(_SESSIONS.c.id == bindparam("id"))


def _nothing_to_claim() -> bool:
    return True


def handle_login_event(event: LoginEvent, claim: ClaimPush = _nothing_to_claim) -> str | None:
    """Scene → login session → user decision → passive reply text (the connection's, or none).

    The push is claimed (``claim``) only once a live session is found: a scan of an unknown or finished scene
    changes nothing, so it needs no de-duplication and costs one read. The session is handled by its id and
    the columns read with the scene (every move is a compare-and-set on the row, so nothing read here can be
    acted on if it went stale), and the connection comes from the process cache: no row is read twice."""
    started = time.monotonic()
    found = autocommit.first(_LIVE_SCENE, {"connection_id": event.connection_id, "scene": event.scene})
    if found is None or State(found.state) not in LIVE or found.expires_at <= utcnow():
        # Expired QR codes are scanned all day long: at INFO this line would be most of the log.
        log.debug("login event for an unknown or finished scene on %s ignored", event.connection_identifier)
        return None
    if not claim():
        return None  # a re-delivery of a push already processed
    session_id, pending_id, identifier = found.id, found.pending_id, event.connection_identifier
    connection = connection_cache.get(identifier)
    if connection is not None and connection.id != event.connection_id:
        connection = None
    # A first scan (the common case) will need the unionid: ask WeChat while the scanner is being fixed.
    unionid_soon = (_unionid_meanwhile(connection, event.openid)
                    if connection is not None and found.state == State.WAITING.value else None)
    state = _scanner_state(session_id, found.state, found.openid, event.openid, event.kind == "subscribe")
    # A scanner fixed just now is announced with the decision that follows in this push (the page goes from
    # waiting to the outcome; a "scanned" shown for the few milliseconds until then would only cost the decision
    # CPU), or on its own when the decision is slow to come or does not come.
    unannounced = state == State.SCANNED and found.state == State.WAITING.value
    try:
        if state is None:
            log.warning("second scanner refused on a login session of %s", identifier)
            audit.record("login.second_scanner", actor="wechat", target=identifier, outcome="refused",
                         login_session=session_id)
            return IN_USE
        app_name = _client_name(found.client_id)
        if state == State.CONFIRM:
            return CONFIRM_PROMPT.format(app=app_name)  # the same person scanned again: remind them
        if state != State.SCANNED:
            return None  # binding form already shown; a re-scan changes nothing
        if connection is None:
            return None
        facts = _Facts(session_id, pending_id, event.openid, identifier, connection.confirm_in_wechat,
                       connection.reply_text, app_name)
        if unionid_soon is None:
            unionid = unionid_of(connection, event.openid)
        else:
            try:
                unionid = unionid_soon.result(timeout=SCANNED_UNANNOUNCED_SECONDS)
            except FutureTimeout:  # WeChat is slow: show the page its scan meanwhile
                sessions.announce_move(session_id)
                unannounced = False
                unionid = unionid_soon.result()
        outcome = resolve(connection, event.openid, unionid, commit=False)  # commits with the session's move
        reply, won = _apply(session_id, facts, outcome, unionid, State.SCANNED)
        unannounced = unannounced and not won
        log.info("login event on %s → %s in %.0f ms", identifier, outcome.kind,
                 (time.monotonic() - started) * 1000)
        return reply
    finally:
        if unannounced:
            try:
                sessions.announce_move(session_id)
            except Exception as exc:  # the pages' safety net re-reads within seconds anyway
                log.warning("could not announce a scan on %s (%s)", identifier, type(exc).__name__)


def decide(session: LoginSession, connection: Connection, outcome: Outcome, unionid: str | None,
           source: State, app_name: str | None = None) -> str | None:
    """Apply a resolution outcome to a session whose scanner is fixed; returns the passive reply text.

    Used after a scan (``source`` = scanned) and after a binding code (``source`` = binding), so binding
    also respects the connection's confirm-in-WeChat step. ``app_name`` saves reading it again when known."""
    facts = _Facts(session.id, session.pending_id, session.openid or "", connection.identifier,
                   connection.confirm_in_wechat, connection.reply_text, app_name)
    return _apply(session, facts, outcome, unionid, source)[0]


@dataclass(frozen=True)
class _Facts:
    """What a decision needs of the session and the connection, read while those rows were fresh: every
    commit expires the ORM objects, and reading them again would cost a statement each."""

    session_id: str
    pending_id: str
    openid: str
    identifier: str
    confirm_in_wechat: bool
    reply_text: str
    app_name: str | None


def _apply(session: LoginSession | str, facts: _Facts, outcome: Outcome, unionid: str | None,
           source: State) -> tuple[str | None, bool]:
    """The decision's move; returns the passive reply text and whether the move won (and was announced)."""
    openid, identifier, session_id = facts.openid, facts.identifier, facts.session_id
    app_name = facts.app_name if facts.app_name is not None else _app_name(facts.pending_id)

    def audited(kind: str) -> Callable[[], None]:
        return lambda: _audit(identifier, session_id, kind, outcome)  # lands in the move's own transaction

    if outcome.kind == "success" and facts.confirm_in_wechat:
        won = sessions.transition(session, source, State.CONFIRM, scanner=openid, user_id=outcome.user_id,
                                  unionid=unionid, confirm_code=f"{secrets.randbelow(10000):04d}",
                                  on_win=audited("confirm"))
        _decided(identifier, session_id, "confirm", outcome, won)
        return (CONFIRM_PROMPT.format(app=app_name) if won else None), won
    if outcome.kind == "success":
        won = sessions.transition(session, source, State.SUCCEEDED, scanner=openid, user_id=outcome.user_id,
                                  unionid=unionid, on_win=audited("success"))
    elif outcome.kind == "binding":
        won = sessions.transition(session, source, State.BINDING, scanner=openid, unionid=unionid,
                                  on_win=audited("binding"))
    else:
        won = sessions.transition(session, source, State.REFUSED, scanner=openid, refusal=outcome.reason,
                                  user_id=outcome.user_id, on_win=audited("refused"))
    _decided(identifier, session_id, outcome.kind, outcome, won)
    if not won or outcome.kind == "refused":
        return None, won
    return render_reply(facts.reply_text, app_name), won


def _audit(identifier: str, session_id: str, kind: str, outcome: Outcome) -> None:
    audit.record(f"login.{kind}", actor=f"user:{outcome.user_id or '-'}", target=identifier,
                 outcome=outcome.reason or "ok", commit=False, login_session=session_id)


def _decided(identifier: str, session_id: str, kind: str, outcome: Outcome, won: bool) -> None:
    if not won:
        log.info("login session on %s changed meanwhile; decision %s dropped", identifier, kind)
        return
    signals.login_decided.send(None, connection=identifier,
                               outcome=kind if kind != "refused" else f"refused_{outcome.reason}",
                               user_id=outcome.user_id, login_session=session_id)


def app_name_of(session: LoginSession) -> str:
    return _app_name(session.pending_id)


def _app_name(pending_id: str) -> str:
    """The application's name, shown in WeChat replies."""
    return _client_name(db.session.scalar(select(PendingAuthorization.client_id)
                                          .where(PendingAuthorization.id == pending_id)))


def _client_name(client_id: str | None) -> str:
    """A client's name from the per-process client cache (no statement once the client is known)."""
    client = find_client(client_id) if client_id is not None else None
    return client.name if client is not None else "idp-bridge"


def render_reply(template: str, app_name: str) -> str | None:
    """The connection's reply with ``{app}`` and ``{time}`` (Beijing time) filled in; empty means none."""
    if not template:
        return None
    now = datetime.now(BEIJING).strftime("%H:%M")
    return template.replace("{app}", app_name).replace("{time}", now)


def handle_text(connection_id: int, openid: str, content: str) -> TextOutcome:
    """A chat message: the confirmation code of a login in the ``confirm`` state, or a sign-in code (SPEC §13)
    on a code-login connection; anything else is not consumed (it may be passed on to the operator)."""
    connection = db.session.get(Connection, connection_id)
    if connection is None:
        return TextOutcome(False)
    if connection.confirm_in_wechat:
        confirmed = _confirm_text(connection_id, openid, content)
        if confirmed.consumed or not connection.code_login:
            return confirmed
    if connection.code_login:
        from idp_bridge.login import codes

        return codes.handle(connection, openid, content)
    return TextOutcome(False)


def _confirm_text(connection_id: int, openid: str, content: str) -> TextOutcome:
    outcome = _confirm_reply(connection_id, openid, content)
    return TextOutcome(outcome is not None, outcome or None)


def _confirm_reply(connection_id: int, openid: str, content: str) -> str | None:
    """The reply to a confirmation code of a login waiting in the ``confirm`` state; None when not one."""
    code = content.strip()
    if len(code) != 4 or not all("0" <= c <= "9" for c in code):
        return None
    session = db.session.scalar(
        db.select(LoginSession).where(LoginSession.connection_id == connection_id, LoginSession.openid == openid,
                                      LoginSession.state == State.CONFIRM.value)
        .order_by(LoginSession.updated_at.desc()))
    if session is None or session.expires_at <= utcnow():
        return None
    attempt = sessions.count_attempt(session, "confirm", MAX_CONFIRM_ATTEMPTS)
    if attempt is None:
        return None
    if secrets.compare_digest(code, session.confirm_code or ""):
        if sessions.transition(session, State.CONFIRM, State.SUCCEEDED, scanner=openid):
            audit.record("login.confirmed", actor=f"user:{session.user_id}", target=str(connection_id))
            return CONFIRMED
        return None
    if attempt >= MAX_CONFIRM_ATTEMPTS:
        sessions.transition(session, State.CONFIRM, State.REFUSED, scanner=openid, refusal="confirm")
        return CONFIRM_REFUSED
    return CONFIRM_WRONG
