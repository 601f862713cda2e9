"""Send-a-code login (SPEC §13): the page shows a short code, the person sends it to the account in WeChat, and
the verified ``text`` push signs in *the sender* (the openid WeChat vouches for, never whoever the page expects).

The code is 8 symbols of Crockford's base32 alphabet (32 symbols, so exactly 40 bits, shown ``K7PM-3QXD``): no
``I``, ``L``, ``O`` or ``U``, and a typed ``O``/``I``/``L`` is read as ``0``/``1``/``1``, so what a person copies
from a phone screen matches. Only an HMAC of the code is stored; one code is live per login session (a new one
replaces the old), for 5 minutes. Guessing is bounded per sender (SPEC §15): each code-shaped text counts
against 5 per openid per 10 minutes *before* it is compared; after that the sender gets silence.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta

from flask import current_app

from idp_bridge import audit, ratelimit
from idp_bridge.accounts.resolve import resolve
from idp_bridge.extensions import db
from idp_bridge.login import sessions
from idp_bridge.login.code_format import ALPHABET, LENGTH, normalise
from idp_bridge.login.dispatcher import app_name_of, decide, unionid_of
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import State
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.dispatch import TextOutcome
from idp_bridge.wechat.models import Connection

log = logging.getLogger(__name__)
CODE_SECONDS = 5 * 60
GUESSES_PER_WINDOW = 5
GUESS_WINDOW_SECONDS = ratelimit.GUESS_WINDOW_SECONDS  # 10 minutes
GUESS_KEY_PREFIX = ratelimit.GUESS_PREFIX
SIGNED_IN = "已登录「{app}」。/ You are signed in to {app}."
NOT_VALID = "该登录码无效或已过期，请核对登录页。/ That sign-in code is not valid or has expired."


def entropy_bits() -> float:
    """Bits of one code: 8 × log2(32) = 40 (SPEC §13 asks for at least 40)."""
    import math

    return LENGTH * math.log2(len(ALPHABET))


def generate() -> str:
    """A new code, uniformly random (``secrets.choice``), without separators."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    """``K7PM3QXD`` → ``K7PM-3QXD``: two groups of four are easier to read and type."""
    return f"{code[:4]}-{code[4:]}"


def code_digest(code: str) -> str:
    """HMAC-SHA-256 under the instance key: a stolen database row does not give the 40-bit code away offline."""
    key = hashlib.sha256(("login-code|" + str(current_app.config["SECRET_KEY"])).encode()).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def issue(session: LoginSession) -> str | None:
    """Give a waiting login session a fresh code (replacing any previous one); returns it for the page.

    Written by one conditional UPDATE on a session still ``waiting``: this is not a state move, and a session
    that was scanned meanwhile gets no code (``None``)."""
    code = generate()
    expires = min(utcnow() + timedelta(seconds=CODE_SECONDS), session.expires_at)
    result = db.session.execute(
        db.update(LoginSession)
        .where(LoginSession.id == session.id, LoginSession.state == State.WAITING.value)
        .values(login_code_digest=code_digest(code), login_code_expires_at=expires)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return code if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _guess_allowed(connection_id: int, openid: str) -> bool:
    """Count this attempt before evaluating it (SPEC §15): one atomic increment, refused past the limit."""
    window = int(time.time()) // GUESS_WINDOW_SECONDS
    return ratelimit.hit(f"{GUESS_KEY_PREFIX}{connection_id}:{openid}", window, GUESSES_PER_WINDOW) is not None


def _refund(connection_id: int, openid: str) -> None:
    """A right code is not a wrong guess: give its count back, so a person signing in often is not silenced."""
    window = int(time.time()) // GUESS_WINDOW_SECONDS
    key = f"{GUESS_KEY_PREFIX}{connection_id}:{openid}"[:96]
    db.session.execute(db.update(ratelimit.RateCounter)
                       .where(ratelimit.RateCounter.key == key, ratelimit.RateCounter.window == window,
                              ratelimit.RateCounter.count > 0)
                       .values(count=ratelimit.RateCounter.count - 1))
    db.session.commit()


def _live_session(connection_id: int, code: str) -> LoginSession | None:
    return db.session.scalar(db.select(LoginSession).where(
        LoginSession.connection_id == connection_id, LoginSession.login_code_digest == code_digest(code),
        LoginSession.state == State.WAITING.value, LoginSession.login_code_expires_at > utcnow()))


def handle(connection: Connection, openid: str, content: str) -> TextOutcome:
    """A chat text on a code-login connection: sign in the sender when it is a live code."""
    code = normalise(content)
    if code is None:
        return TextOutcome(False)
    if not _guess_allowed(connection.id, openid):
        log.warning("code guessing limit reached on %s; attempt not evaluated", connection.identifier)
        return TextOutcome(True)  # silence: no reply that could confirm or deny anything
    session = _live_session(connection.id, code)
    if session is None:
        audit.record("login.code_wrong", actor="wechat", target=connection.identifier, outcome="refused")
        return TextOutcome(True, NOT_VALID)
    # The sender becomes the session's scanner by the same compare-and-set as a scan (SPEC §15).
    if not sessions.transition(session, State.WAITING, State.SCANNED, openid=openid, event_at=utcnow(),
                               login_code_digest=None):
        return TextOutcome(True, NOT_VALID)
    _refund(connection.id, openid)
    unionid = unionid_of(connection, openid)
    outcome = resolve(connection, openid, unionid)
    reply = decide(session, connection, outcome, unionid, source=State.SCANNED)
    # Always name the application, so the sender sees what they signed in to (the browser may already have
    # consumed the success: completed).
    if session.state in (State.SUCCEEDED, State.COMPLETED):
        reply = SIGNED_IN.format(app=app_name_of(session))
    return TextOutcome(True, reply)
