"""Retention (SPEC §15): delete rows that can never be used again, in small batches.

Every unauthenticated ``/oauth/authorize`` stores a pending authorization, every QR code a login session, every
push a processed-event row; without a purge the tables only grow. ``purge()`` deletes, per table, at most
``batch`` rows per transaction and commits between batches, so no statement holds row locks for long and live
traffic interleaves with the purge; it stops at a time budget and the next run continues.

What "can never be used again" means, per table — each condition is stricter than the check that reads the row,
and every condition also waits ``GRACE`` past the expiry so that clock skew between hosts can't make us delete a
row another worker still considers live:

- pending authorizations: past ``expires_at`` (``oidc.seam.get_pending`` refuses them);
- login sessions: past ``expires_at`` *and* their pending authorization is gone or past its own expiry (the page
  of a succeeded login still reads its session until the pending authorization ends);
- authorization codes: past ``expires_at`` *and* no stored token came from them: a used code is kept while its
  tokens exist so that a replay still revokes them (RFC 6749 §4.1.2, RFC 9700 §4.2.4);
- tokens: the access token expired *and* the refresh token (if any) is past its own lifetime. Rotated and revoked
  refresh tokens are kept until then, so reuse of a rotated token keeps revoking its family for as long as that
  token would otherwise have been valid (RFC 9700 §4.14.2);
- SSO sessions: past ``expires_at`` (revoked ones too, once expired: revocation is already final);
- processed events: older than the de-duplication window (WeChat re-delivers within ~15 s; we keep an hour) and
  not under a live claim lease (``wechat.claims``);
- plaintext push signatures: past ``expires_at``, when their timestamp is outside the replay window anyway
  (``wechat.inbound`` refuses it before the signature memory is consulted);
- rate counters: windows that ended (``ratelimit.stale_counters``);
- audit events: older than ``IDP_BRIDGE_AUDIT_RETENTION_DAYS``;
- binding codes: past ``expires_at`` (``accounts.resolve`` refuses them);
- the events outbox (SPEC §14): delivery attempts, finished deliveries and events without deliveries, after
  30 days (the delivery log an operator reads); a pending delivery is never purged;
- WeChat API error counts: minutes older than ``wechat.api_errors.RETENTION`` (the console shows the last hour).

The condition is repeated in the ``DELETE`` itself (not only in the sub-select that picks the batch): on
PostgreSQL a row changed by a concurrent transaction is re-checked against it, so a row that became live again
(a rate counter moved to the current window) is never deleted; ``FOR UPDATE SKIP LOCKED`` lets the purge step
around rows a request is using instead of waiting for them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, text

from idp_bridge import ratelimit
from idp_bridge.accounts.models import BindingCode
from idp_bridge.audit import AuditEvent
from idp_bridge.config import Settings, current_settings
from idp_bridge.events.models import Delivery, DeliveryAttempt, Event
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.models import AuthorizationCode, PendingAuthorization, SsoSession, Token
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import api_errors
from idp_bridge.wechat.models import ApiErrorCount, ProcessedEvent, PushSignature

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=5)
PROCESSED_EVENT_RETENTION = timedelta(hours=1)
EVENT_RETENTION = timedelta(days=30)  # the webhook delivery log (SPEC §14); pending deliveries are never purged
DEFAULT_BATCH = 500
DEFAULT_BUDGET_SECONDS = 30.0

Condition = Callable[[datetime, Settings], ColumnElement[bool]]


@dataclass(frozen=True)
class Rule:
    """One table: its name in the report, its primary key, and when a row is dead."""

    name: str
    model: Any
    key: Any
    dead: Condition


def _pending(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return PendingAuthorization.expires_at < now - GRACE


def _login_sessions(now: datetime, _s: Settings) -> ColumnElement[bool]:
    live_pending = exists().where(PendingAuthorization.id == LoginSession.pending_id,
                                  PendingAuthorization.expires_at >= now - GRACE)
    return and_(LoginSession.expires_at < now - GRACE, ~live_pending)


def _codes(now: datetime, _s: Settings) -> ColumnElement[bool]:
    has_tokens = exists().where(Token.code_id == AuthorizationCode.id)
    return and_(AuthorizationCode.expires_at < now - GRACE, or_(AuthorizationCode.used_at.is_(None), ~has_tokens))


def _tokens(now: datetime, _s: Settings) -> ColumnElement[bool]:
    cutoff = now - GRACE
    return and_(Token.access_expires_at < cutoff,
                or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < cutoff))


def _sso(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return SsoSession.expires_at < now - GRACE


def _processed(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return and_(ProcessedEvent.received_at < now - PROCESSED_EVENT_RETENTION,
                or_(ProcessedEvent.lease_until.is_(None), ProcessedEvent.lease_until < now - GRACE))


def _push_signatures(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return PushSignature.expires_at < now - GRACE


def _counters(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return ratelimit.stale_counters(int(now.timestamp()))


def _audit(now: datetime, settings: Settings) -> ColumnElement[bool]:
    return AuditEvent.at < now - timedelta(days=settings.audit_retention_days)


def _binding_codes(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return BindingCode.expires_at < now - GRACE


def _delivery_attempts(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return DeliveryAttempt.at < now - EVENT_RETENTION


def _deliveries(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return and_(Delivery.created_at < now - EVENT_RETENTION, Delivery.state != "pending")


def _events(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return and_(Event.created_at < now - EVENT_RETENTION, ~exists().where(Delivery.event_id == Event.id))


def _api_errors(now: datetime, _s: Settings) -> ColumnElement[bool]:
    return ApiErrorCount.minute < now - api_errors.RETENTION


# Order matters only for efficiency: pending authorizations before the login sessions that wait for them to end,
# tokens before the codes that wait for their tokens to go.
RULES: tuple[Rule, ...] = (
    Rule("pending_authorizations", PendingAuthorization, PendingAuthorization.id, _pending),
    Rule("login_sessions", LoginSession, LoginSession.id, _login_sessions),
    Rule("tokens", Token, Token.id, _tokens),
    Rule("authorization_codes", AuthorizationCode, AuthorizationCode.id, _codes),
    Rule("sso_sessions", SsoSession, SsoSession.id, _sso),
    Rule("processed_events", ProcessedEvent, ProcessedEvent.id, _processed),
    Rule("push_signatures", PushSignature, PushSignature.id, _push_signatures),
    Rule("rate_counters", ratelimit.RateCounter, ratelimit.RateCounter.key, _counters),
    Rule("audit_events", AuditEvent, AuditEvent.id, _audit),
    Rule("binding_codes", BindingCode, BindingCode.id, _binding_codes),
    Rule("delivery_attempts", DeliveryAttempt, DeliveryAttempt.id, _delivery_attempts),
    Rule("deliveries", Delivery, Delivery.id, _deliveries),
    Rule("events", Event, Event.id, _events),
    Rule("wechat_api_errors", ApiErrorCount, ApiErrorCount.id, _api_errors),
)


def _delete_batch(rule: Rule, condition: ColumnElement[bool], batch: int) -> int:
    chosen = select(rule.key).where(condition).limit(batch).with_for_update(skip_locked=True)
    table = rule.model.__table__
    result = db.session.execute(delete(table).where(rule.key.in_(chosen), condition))
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge(batch: int = DEFAULT_BATCH, now: datetime | None = None,
          budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> dict[str, int]:
    """Delete dead rows, ``batch`` per transaction, until none are left or ``budget_seconds`` have passed.

    Returns how many rows went from each table (every table is named, zero included). Needs an app context.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    settings = current_settings()
    now = now or utcnow()
    deadline = time.monotonic() + budget_seconds
    counts = {rule.name: 0 for rule in RULES}
    for rule in RULES:
        condition = rule.dead(now, settings)
        while time.monotonic() < deadline:
            deleted = _delete_batch(rule, condition, batch)
            counts[rule.name] += deleted
            if deleted < batch:
                break
    if time.monotonic() >= deadline:
        log.info("purge stopped at its %.0f s budget; the next run continues", budget_seconds)
    return counts


# --- scheduling inside `idp-bridge serve` -------------------------------------------------------------------------
#
# One daemon thread per gunicorn worker, and a lock so that one purge runs at a time. Not a thread in the gunicorn
# master (``when_ready``): the master builds no app by design (no preload: pools and key caches are never shared
# across processes), and a thread running in the master when it forks a replacement worker would leave the
# child with locks (logging, connection pool) held by a thread that does not exist there. Per worker, the purge
# keeps running when any worker is restarted, and the lock makes the extra threads cost one failed try-lock.

#: PostgreSQL advisory lock key (any fixed 64-bit number; this one is "idpb" + "purg" in ASCII).
ADVISORY_LOCK_KEY = 0x6964706270757267
DEFAULT_INTERVAL_SECONDS = 300


@contextmanager
def exclusive() -> Iterator[bool]:
    """Yield True when this process may purge now, False when another one (any worker, any host) is purging.

    PostgreSQL: a session-level advisory lock on a connection of its own, released on exit or when the process
    dies (the server drops the session). SQLite, a single-host database: ``flock`` on a file in the instance
    folder, released by the kernel when the process dies.
    """
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar())
            connection.commit()  # the lock is held by the session, not by an open transaction
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                    connection.commit()
        return
    path = Path(current_settings().instance_dir) / "purge.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class PurgeThread(threading.Thread):
    """Runs :func:`purge` every ``interval`` seconds (±20 % so workers do not line up) while the process lives."""

    def __init__(self, app: Flask, interval: float, first_delay: float | None = None) -> None:
        super().__init__(name="idp-bridge-purge", daemon=True)
        self.app = app
        self.interval = interval
        self.first_delay = random.uniform(0, min(interval, 60)) if first_delay is None else first_delay
        self.stopped = threading.Event()
        self.runs = 0  # purges this thread actually performed (lock won), for tests and logs

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        wait = self.first_delay
        while not self.stopped.wait(wait):
            self.run_once()
            wait = self.interval * random.uniform(0.8, 1.2)

    def run_once(self) -> dict[str, int] | None:
        """One attempt; None when another process held the lock or the database failed (the next run retries)."""
        with self.app.app_context():
            try:
                with exclusive() as mine:
                    if not mine:
                        return None
                    counts = purge(budget_seconds=max(1.0, min(self.interval / 2, DEFAULT_BUDGET_SECONDS)))
                self.runs += 1
                if any(counts.values()):
                    log.info("purged expired rows: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
                return counts
            except Exception:  # a background thread must outlive a database outage
                db.session.rollback()
                log.warning("purge failed; retrying at the next interval", exc_info=True)
                return None
            finally:
                db.session.remove()


def start_background(app: Flask, interval: float = DEFAULT_INTERVAL_SECONDS,
                     first_delay: float | None = None) -> PurgeThread:
    """Start the purge thread of this process (``idp-bridge serve`` calls it in each worker)."""
    thread = PurgeThread(app, interval, first_delay)
    thread.start()
    return thread
