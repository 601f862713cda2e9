"""Caps on concurrent status streams (SPEC §15), and what a stream needs to run once the view has checked it.

The caps are per process because the resources they protect are per process: at most 2 streams per login
session, ``IDP_BRIDGE_STREAMS_PER_IP`` per client address (IPv6 counted by /64, since one host holds a whole
/64), and a process-wide total. Under ``idp-bridge serve`` a waiting stream is a coroutine on the worker's event
loop (:mod:`idp_bridge.streaming`) and holds no thread: the total bounds the worker's memory and file
descriptors (``--streams-per-worker``). Under a thread-per-request server (the development server, tests) a
stream holds a thread, and the total stays below the thread count so that some threads always remain for short
requests. A refused page falls back to polling ``/status``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from idp_bridge import signals
from idp_bridge.login.states import State
from idp_bridge.timeutil import utcnow

if TYPE_CHECKING:
    from idp_bridge.asyncdb import AsyncPool

PER_SESSION = 2
RESERVED_THREADS = 8  # threads a thread-per-stream worker always keeps for short requests (healthz, token, pages)
DEFAULT_TOTAL = 256  # outside `serve` (the development server has no thread limit)
DEFAULT_PER_WORKER = 4000  # `serve`: one waiting stream costs a few kilobytes and one file descriptor


@dataclass
class Slots:
    """Counts of open streams in this process, by login session, by address and in total."""

    total_limit: int = DEFAULT_TOTAL
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_session: Counter[str] = field(default_factory=Counter)
    _by_address: Counter[str] = field(default_factory=Counter)
    _total: int = 0

    def configure_for_threads(self, threads: int) -> None:
        """Keep the process-wide total below a thread-per-stream worker's thread count (at least one)."""
        self.total_limit = max(1, min(threads - RESERVED_THREADS, threads * 3 // 4))

    def configure_total(self, total: int) -> None:
        """Set the process-wide total directly (streams that hold no thread; at least one)."""
        self.total_limit = max(1, total)

    def acquire(self, session_id: str, address: str, per_address: int) -> bool:
        with self._lock:
            if (self._total >= self.total_limit or self._by_session[session_id] >= PER_SESSION
                    or self._by_address[address] >= per_address):
                return False
            self._total += 1
            self._by_session[session_id] += 1
            self._by_address[address] += 1
            return True

    def release(self, session_id: str, address: str) -> None:
        with self._lock:
            self._total -= 1
            for counter, key in ((self._by_session, session_id), (self._by_address, address)):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]

    @property
    def open(self) -> int:
        return self._total


SLOTS = Slots()


@dataclass(frozen=True)
class Snapshot:
    """A login session's status as the page sees it, read once from the database."""

    payload: dict[str, Any]  # the JSON of one ``state`` event (the same as ``/status`` answers)
    version: int
    finished: bool  # no longer live: the stream ends after sending it
    event_at: datetime | None  # when the deciding WeChat event was accepted (delivery-latency metric)
    expires_at: datetime  # a live session turns ``expired`` then, without any event


@dataclass(frozen=True)
class SessionView:
    """The columns of a login session that its status shows (what ``login.views`` builds a snapshot from)."""

    state: str
    qr_url: str | None
    refusal: str | None
    version: int
    event_at: datetime | None
    expires_at: datetime


@dataclass
class StreamPlan:
    """A stream the view has accepted (caps held, ownership checked), handed to the event loop to run.

    ``read`` re-reads the session in a thread (it opens an app context and a database session) and returns
    None when the session is gone or the database is unavailable (the stream then ends; the page reconnects or
    polls); ``view`` makes the snapshot from columns read on the loop (:func:`read_view`), or None when the
    session needs ``read`` after all (a live session past its QR's life, which that read turns ``expired``);
    ``release`` gives the caps back and must be called exactly once, whatever happens."""

    session_id: str
    seen: int  # the page's Last-Event-ID (-1: none)
    first: Snapshot
    read: Callable[[], Snapshot | None]
    release: Callable[[], None]
    view: Callable[[SessionView], Snapshot | None] | None = None


_VIEW_FIELDS = [f.name for f in fields(SessionView)]


def view_statement(dialect: Any) -> str:
    """The SELECT of a session's :class:`SessionView` columns, as psycopg takes it (compiled once per worker)."""
    from idp_bridge.login.models import LoginSession

    table = LoginSession.__table__
    statement = select(*[table.c[name] for name in _VIEW_FIELDS]).where(table.c.id == bindparam("id"))
    return str(statement.compile(dialect=dialect))


async def read_view(pool: AsyncPool, sql: str, session_id: str) -> SessionView | None:
    """The session's :class:`SessionView`, read on the loop; None when it is gone. Times are made UTC, as the
    ORM's ``UTCDateTime`` makes them."""
    async with pool.connection() as conn:
        rows = await pool.rows(conn, sql, {"id": session_id})
    if not rows:
        return None
    values = dict(zip(_VIEW_FIELDS, rows[0], strict=True))
    for name in ("event_at", "expires_at"):
        if values[name] is not None:
            values[name] = values[name].astimezone(UTC)
    return SessionView(**values)


def sse_event(payload: dict[str, Any]) -> str:
    """One ``state`` event of the stream (WHATWG HTML §9.2 server-sent events; ``id`` = the row's version, so
    a reconnecting browser's ``Last-Event-ID`` says what it has already seen)."""
    return f"id: {payload['version']}\nevent: state\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def delivered(snapshot: Snapshot) -> None:
    """Record how long a success took from WeChat's event to the page (called when sent on a stream)."""
    if snapshot.payload["state"] == State.SUCCEEDED and snapshot.event_at is not None:
        signals.login_delivered.send(None, seconds=(utcnow() - snapshot.event_at).total_seconds())


HANDOFF_KEY = "idpb.stream_handoff"  # in the ASGI scope (the WSGI bridge exposes it as environ["asgi.scope"])


@dataclass
class Handoff:
    """Put in a stream request's ASGI scope by the serving app: the view leaves its accepted stream here
    instead of running it in its thread. Only the server sets it; nothing a client sends can."""

    plan: StreamPlan | None = None
