"""Login sessions: create and renew the QR code, and the one door through which their state changes.

Every change is an atomic ``UPDATE … WHERE id = ? AND state = ? [AND openid = ?]`` (compare-and-set, as
node-oidc-provider's ``consumable`` mixin consumes a code): two workers handling two scans, a scan racing an
expiry, or thirty concurrent binding attempts can never both win. The winner commits and wakes every page
waiting on the session, in every worker (``notify``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import inspect

from idp_bridge import signals
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.login import notify
from idp_bridge.login.models import LoginSession
from idp_bridge.login.states import LIVE, State, check_move
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.models import Connection
from idp_bridge.wechat.reach import qr_capable
from idp_bridge.wechat.service import client_for

log = logging.getLogger(__name__)


def new_scene(connection: Connection) -> str:
    """Prefix + 128 random bits (22 URL-safe characters): unguessable, ≤ 64 characters as WeChat requires."""
    return connection.scene_prefix + secrets.token_urlsafe(16)


def for_pending(pending_id: str, connection_id: int) -> LoginSession | None:
    return db.session.scalar(db.select(LoginSession).where(LoginSession.pending_id == pending_id,
                                                          LoginSession.connection_id == connection_id)
                             .order_by(LoginSession.created_at.desc()))


def by_scene(connection_id: int, scene: str) -> LoginSession | None:
    return db.session.scalar(db.select(LoginSession).where(LoginSession.connection_id == connection_id,
                                                          LoginSession.scene == scene))


def create(pending_id: str, connection: Connection, *, with_qr: bool = True) -> LoginSession:
    """Ask WeChat for a temporary QR code (may raise ``WeChatError``) and store the session.

    A subscription account cannot create parametric QR codes (SPEC §13): its sessions have no QR (empty
    ticket and URL) and are completed by a sign-in code only; nor has a session that starts with in-WeChat web
    authorization (``with_qr=False``), which needs no QR unless it falls back to one."""
    settings = current_settings()
    scene = new_scene(connection)
    ticket, url, lifetime = "", "", settings.qr_expire_seconds
    if with_qr and qr_capable(connection):
        qr = client_for(connection).create_qrcode(scene, settings.qr_expire_seconds)
        ticket, url, lifetime = qr.ticket, qr.url, min(qr.expire_seconds, settings.qr_expire_seconds)
    session = LoginSession(id=secrets.token_urlsafe(16), pending_id=pending_id, connection_id=connection.id,
                           scene=scene, ticket=ticket, qr_url=url, state=State.WAITING.value,
                           expires_at=utcnow() + timedelta(seconds=lifetime))
    db.session.add(session)
    db.session.commit()
    if ticket:
        from idp_bridge.login.limits import DAILY_BUDGET, budget_used

        signals.qr_created.send(None, connection=connection.identifier, used=budget_used(connection.id),
                                budget=DAILY_BUDGET)
    return session


def transition(session: LoginSession | str, source: State | Collection[State], target: State, *,
               scanner: str | None = None, on_win: Callable[[], None] | None = None, announce: bool = True,
               **facts: Any) -> bool:
    """Move ``session`` (the row, or its id) from ``source`` (one state or several) to ``target`` with
    ``facts`` written alongside, if and only if the row is still in ``source`` (and, when given, still belongs
    to ``scanner``'s openid).

    Returns whether this call won. On a win ``on_win`` runs inside the same transaction (what must be true
    together with the move — an audit row, an outbox row — commits with it or not at all), the change is
    committed and every waiting page is woken; on a loss nothing is written. The commit expires a ``session``
    row passed in, so its next attribute read returns the current state; a caller that passed only the id
    reads nothing again. ``announce=False``: the pages are not woken; the caller then owes the session an
    :func:`announce_move` (or a later move that announces it).
    """
    with moving(session, source, target, scanner=scanner, on_win=on_win, announce=announce, **facts) as won:
        return won


def announce_move(session_id: str) -> None:
    """Wake every page of ``session_id`` (after a move made with ``announce=False``), in every process."""
    settings = current_settings()
    notify.announce_alone(session_id, settings.database_url, settings.redis_url)


@contextmanager
def moving(session: LoginSession | str, source: State | Collection[State], target: State, *,
           scanner: str | None = None, on_win: Callable[[], None] | None = None, announce: bool = True,
           **facts: Any) -> Iterator[bool]:
    """:func:`transition`, with the block run inside the move's transaction before it commits: work that must
    commit with the move (the completed login's authorization code) without a transaction of its own. The block
    may commit the transaction itself; if it raises, the move is rolled back and nobody is woken."""
    sources = [source] if isinstance(source, State) else list(source)
    for state in sources:
        check_move(state, target)
    session_id = session if isinstance(session, str) else _id_of(session)
    condition = [LoginSession.id == session_id, LoginSession.state.in_([s.value for s in sources])]
    if scanner is not None:
        condition.append(LoginSession.openid == scanner)
    if target == State.EXPIRED:
        condition.append(LoginSession.expires_at <= utcnow())
    values = {**facts, "state": target.value, "version": LoginSession.version + 1, "updated_at": utcnow()}
    result = db.session.execute(db.update(LoginSession).where(*condition).values(**values)
                                .execution_options(synchronize_session=False))
    won = result.rowcount == 1  # type: ignore[attr-defined]
    settings = current_settings()
    if won:
        signals.login_session_moved.send(None, session_id=session_id, target=target.value, facts=facts)
        if on_win is not None:
            on_win()
        if announce:
            notify.stage(session_id, settings.database_url, settings.redis_url)
    try:
        yield won
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    if won and announce:
        notify.announce(session_id, settings.database_url, settings.redis_url)


def _id_of(session: LoginSession) -> str:
    """The row's primary key without a SELECT: an expired instance still knows its identity."""
    identity: tuple[Any, ...] | None = inspect(session).identity
    return str(identity[0]) if identity else session.id


def count_attempt(session: LoginSession, kind: Literal["binding", "confirm"], limit: int) -> int | None:
    """Count one binding-code or confirm-code attempt *before* the code is evaluated (SPEC §15).

    Returns the attempt's number (1…limit), or ``None`` when the session is no longer in the matching state
    or has used all ``limit`` attempts. Counting is one atomic UPDATE, so concurrent guesses cannot evaluate
    more than ``limit`` codes between them.
    """
    column = LoginSession.binding_attempts if kind == "binding" else LoginSession.confirm_attempts
    state = State.BINDING if kind == "binding" else State.CONFIRM
    used = db.session.scalar(
        db.update(LoginSession)
        .where(LoginSession.id == session.id, LoginSession.state == state.value, column < limit)
        .values({column: column + 1, "updated_at": utcnow()})
        .returning(column)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return None if used is None else int(used)


def refresh_expiry(session: LoginSession) -> LoginSession:
    """A live session past its QR's life becomes ``expired`` (the page then asks for a new one)."""
    if State(session.state) in LIVE and session.expires_at <= utcnow():
        transition(session, LIVE, State.EXPIRED)
    return session


def is_live(session: LoginSession) -> bool:
    return State(session.state) in LIVE
