"""The background sender (SPEC §14): claims due deliveries, POSTs them, logs every attempt, retries with
backoff for 24 hours.

Claiming is a lease, not a lock held across the network call: a short transaction picks a due delivery
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent senders on any number of instances step around each
other's rows) and sets ``lease_until`` by compare-and-set; the HTTP request then runs with no transaction
open. A sender that dies mid-request leaves a lease that runs out, and another sender retries the delivery:
at least once, and exactly once in the normal case. Receivers de-duplicate on ``webhook-id``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask import Flask
from sqlalchemy import ColumnElement, and_, or_, select, update

from idp_bridge.config import current_settings
from idp_bridge.events import signing, ssrf
from idp_bridge.events.models import Delivery, DeliveryAttempt
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow

log = logging.getLogger(__name__)

#: Seconds before each retry (SPEC §14: ≈ 5 s, 30 s, 2 min, 10 min, 1 h, 3 h, then every 3 h) …
BACKOFF: tuple[float, ...] = (5, 30, 120, 600, 3600, 10800)
#: … for this long after the event; then the delivery is marked failed (``webhook redeliver`` re-queues it).
GIVE_UP_AFTER = timedelta(hours=24)
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 10.0
#: Longer than one request can take, so a live sender never loses its claim mid-request.
LEASE = timedelta(seconds=CONNECT_TIMEOUT + READ_TIMEOUT + 15)


@dataclass(frozen=True)
class Policy:
    """Retry timing; tests shrink it, production uses the defaults."""

    backoff: Sequence[float] = BACKOFF
    give_up_after: timedelta = GIVE_UP_AFTER
    lease: timedelta = LEASE

    def delay(self, attempts: int) -> float:
        return float(self.backoff[min(attempts, len(self.backoff)) - 1])


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(Delivery.state == "pending", Delivery.next_attempt_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))


#: A claim taken by another sender between our SELECT and our UPDATE (SQLite, where there is no SKIP LOCKED).
LOST = (0, utcnow())


def claim(policy: Policy) -> tuple[int, datetime] | None:
    """Claim the oldest due delivery; returns its id and our lease, :data:`LOST` when another sender won the
    race for it (look again at once), or None when nothing is due. Commits."""
    now = utcnow()
    chosen = db.session.scalar(select(Delivery.id).where(_due(now)).order_by(Delivery.next_attempt_at, Delivery.id)
                               .limit(1).with_for_update(skip_locked=True))
    if chosen is None:
        db.session.commit()
        return None
    lease = now + policy.lease
    won = db.session.execute(update(Delivery).where(Delivery.id == chosen, _due(now)).values(lease_until=lease)
                             .execution_options(synchronize_session=False))
    db.session.commit()
    return (chosen, lease) if won.rowcount == 1 else LOST  # type: ignore[attr-defined]


def _prepare(delivery: Delivery) -> tuple[dict[str, str], bytes] | str:
    """The request to send, or why it cannot be sent (target refused, webhook gone)."""
    try:
        ssrf.check_target(delivery.url, current_settings().webhook_allow_private)
        return signing.build_request(delivery)
    except ssrf.TargetRefused as exc:
        return f"refused: {exc}"[:200]
    except LookupError as exc:
        return str(exc)[:200]


_http = threading.local()


def _session() -> requests.Session:
    """One HTTP session per sender thread: kept-alive connections to busy receivers."""
    session = getattr(_http, "session", None)
    if session is None:
        session = _http.session = requests.Session()
    return session


def _post(url: str, request: tuple[dict[str, str], bytes]) -> tuple[int | None, str | None]:
    """One HTTP attempt: (status, None) or (None, error). Redirects are not followed (a 3xx is a failure)."""
    headers, body = request
    try:
        response = _session().post(url, data=body, headers=headers, allow_redirects=False,
                                   timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        response.close()
        return response.status_code, None
    except requests.RequestException as exc:
        return None, type(exc).__name__


def attempt(delivery_id: int, lease: datetime, policy: Policy) -> bool:
    """POST one claimed delivery and record the outcome; True when delivered."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    url, message_id, created_at = delivery.url, delivery.message_id, delivery.created_at
    attempts = delivery.attempts + 1
    started = time.monotonic()
    request = _prepare(delivery)
    db.session.commit()  # no transaction (no SQLite lock, no pooled connection) is held across the network call
    status, error = (None, request) if isinstance(request, str) else _post(url, request)
    took = int((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300
    now = utcnow()
    values: dict[str, object] = {"attempts": attempts, "last_status": status,
                                 "last_error": error or (None if ok else f"HTTP {status}"), "lease_until": None}
    if ok:
        values.update(state="delivered", delivered_at=now)
    else:
        retry_at = now + timedelta(seconds=policy.delay(attempts))
        if retry_at > created_at + policy.give_up_after:
            values.update(state="failed")
        else:
            values.update(next_attempt_at=retry_at)
    db.session.add(DeliveryAttempt(delivery_id=delivery_id, at=now, status=status, duration_ms=took,
                                   error=values["last_error"]))
    db.session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.lease_until == lease)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.commit()
    if not ok:
        log.info("delivery %s attempt %d failed (%s)", message_id, attempts, values["last_error"])
    return ok


def run_once(policy: Policy = Policy()) -> bool:
    """Claim and send one due delivery; False when nothing was due. Needs an app context."""
    claimed = claim(policy)
    if claimed is None:
        return False
    if claimed is not LOST:
        attempt(*claimed, policy)
    return True


class SenderThread(threading.Thread):
    """Sends due deliveries while the process lives.

    A process's senders share ``wake``. While nothing is due they take turns to look: each looks every
    ``idle`` seconds on its own schedule, shifted by ``offset`` from its siblings' (kept after a burst of work,
    which ends for all of them at about the same moment), so that the process looks once per ``poll`` seconds
    however many senders it has (every idle look is a transaction, and a wake-up of a thread that competes for
    the interpreter with the request threads). A sender that finds a delivery sets ``wake``: its siblings stop
    waiting and work through the queue beside it."""

    def __init__(self, app: Flask, poll: float = 1.0, policy: Policy = Policy(), name: str = "idp-bridge-events",
                 *, wake: threading.Event | None = None, idle: float | None = None, offset: float = 0.0):
        super().__init__(name=name, daemon=True)
        self.app, self.policy = app, policy
        self.wake = wake if wake is not None else threading.Event()
        self.idle = idle if idle is not None else poll
        self.offset = offset
        self.stopped = threading.Event()

    def stop(self) -> None:
        """Graceful stop: the delivery in flight finishes; a killed process leaves a lease that expires."""
        self.stopped.set()
        self.wake.set()  # a sender waiting for work returns at once

    def _until_my_turn(self, anchor: float) -> float:
        """Seconds until this sender's next look on its schedule (``anchor`` + multiples of ``idle``)."""
        return self.idle - (time.monotonic() - anchor) % self.idle

    def run(self) -> None:
        anchor = time.monotonic() + self.offset
        if self.offset:
            self.wake.wait(self.offset)
        while not self.stopped.is_set():
            busy = False
            with self.app.app_context():
                try:
                    busy = run_once(self.policy)
                except Exception:  # a background thread must outlive a database outage
                    db.session.rollback()
                    log.warning("event sender failed; retrying", exc_info=True)
                finally:
                    db.session.remove()
            if busy:
                self.wake.set()  # there may be more: the siblings help
                continue
            self.wake.clear()
            if not self.stopped.is_set():  # stop() sets ``stopped`` before ``wake``: no stop is slept through
                self.wake.wait(self._until_my_turn(anchor))


def start_background(app: Flask, threads: int | None = None, poll: float = 1.0,
                     policy: Policy = Policy()) -> list[SenderThread]:
    """Start this process's senders (``idp-bridge serve`` calls it in each worker). One on SQLite (a
    single-writer database), a few on PostgreSQL where ``SKIP LOCKED`` lets them work side by side. Idle, the
    process looks for due deliveries once per ``poll`` seconds in all (:class:`SenderThread`)."""
    with app.app_context():
        dialect = db.engine.dialect.name
    count = threads if threads is not None else (4 if dialect == "postgresql" else 1)
    wake = threading.Event()
    started = [SenderThread(app, poll, policy, name=f"idp-bridge-events-{i}", wake=wake, idle=poll * count,
                            offset=poll * i) for i in range(count)]
    for thread in started:
        thread.start()
    atexit.register(stop_all, started)
    return started


def stop_all(threads: list[SenderThread], timeout: float = CONNECT_TIMEOUT + READ_TIMEOUT) -> None:
    """Graceful stop (a worker exiting after SIGTERM): no new claims; deliveries in flight finish and are
    recorded. Whatever does not finish in time keeps its lease and is retried by another sender."""
    for thread in threads:
        thread.stop()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
