"""What the callback remembers about pushes, in the database so that every worker (and every restart) agrees.

* **Claims** (``processed_events``): WeChat re-delivers a push it got no answer to within 5 s, three times
  (WeChat docs "接收普通消息": "微信服务器在五秒内收不到响应会断掉连接，并且重新发起请求，总共重试三次").
  A push is processed once, and counts as processed only once its effects are committed (SPEC §7.4): a
  claim is a lease taken before the handler runs and marked done after it returns. A worker that dies
  mid-handler leaves a lease that runs out; the next re-delivery takes it over with one atomic
  ``UPDATE … WHERE done_at IS NULL AND lease_until < now`` and completes the work. A re-delivery while a
  live lease is held is answered 503, so that WeChat tries again.
* **Plaintext signatures** (``push_signatures``): the :class:`~idp_bridge.wechat.inbound.ReplayGuard` of
  SPEC §15 "Push integrity".

Both tables are emptied of dead rows by the retention purge (``idp_bridge.retention``, SPEC §15 "Retention").
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, or_, select, update

from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.upsert import conflict_insert
from idp_bridge.wechat.models import ProcessedEvent, PushSignature

# Longer than a healthy handler takes (its only outbound call, user/info, is bounded at 1.5 s) and shorter than
# the 5 s WeChat waits before re-delivering, so that the first re-delivery after a crash re-claims the push. A
# handler still running past it races the re-delivery harmlessly: login-session changes are compare-and-set.
LEASE_SECONDS = 4.0


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a push: ``claimed`` (run the handler, then :func:`complete`), ``done``
    (already processed: answer ``success``) or ``busy`` (another worker holds a live lease: answer 503)."""

    status: Literal["claimed", "done", "busy"]
    claim_id: int | None = None
    lease_until: datetime | None = None


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=LEASE_SECONDS)


def _insert_new(model: Any, **values: Any) -> int | None:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL and SQLite ≥ 3.35): the id of the new row,
    ``None`` when a row with the same unique key exists. Unlike catching ``IntegrityError`` it needs no
    rollback, which would also expire every object the request has loaded."""
    statement = conflict_insert(model).values(**values).on_conflict_do_nothing()
    return db.session.execute(statement.returning(model.id)).scalar_one_or_none()


def claim(connection_id: int, dedupe_key: str, now: datetime | None = None, *, commit: bool = True) -> Claim:
    """Claim one push for this worker. Safe under any number of concurrent workers.

    With ``commit=False`` a won claim stays in the caller's transaction and commits with the handler's first
    commit (or :func:`complete`): one commit fewer per push. Until then the row is invisible to other workers,
    and a re-delivery's insert of the same key waits on it (PostgreSQL: INSERT … ON CONFLICT waits for the
    conflicting transaction; SQLite: one writer at a time), then finds it; a worker that dies first takes its
    claim with it, and WeChat's retry is processed normally."""
    now = now or utcnow()
    lease_until = _lease(now)
    where = (ProcessedEvent.connection_id == connection_id, ProcessedEvent.dedupe_key == dedupe_key)
    taken = _insert_new(ProcessedEvent, connection_id=connection_id, dedupe_key=dedupe_key, received_at=now,
                        lease_until=lease_until)
    if taken is None:  # seen before: take it over only if its worker's lease ran out before it finished
        taken = db.session.execute(
            update(ProcessedEvent)
            .where(*where, ProcessedEvent.done_at.is_(None),
                   or_(ProcessedEvent.lease_until.is_(None), ProcessedEvent.lease_until < now))
            .values(lease_until=lease_until)
            .returning(ProcessedEvent.id)
        ).scalar_one_or_none()
    if taken is not None:
        if commit:
            db.session.commit()
        return Claim("claimed", taken, lease_until)
    done = db.session.execute(select(ProcessedEvent.done_at.is_not(None)).where(*where)).scalar_one_or_none()
    db.session.commit()
    # Not done: a live lease, or the row vanished under a purge; either way WeChat will try again.
    return Claim("done") if done else Claim("busy")


def complete(outcome: Claim) -> None:
    """The handler returned and committed its effects: from now on re-deliveries are duplicates."""
    db.session.execute(update(ProcessedEvent).where(ProcessedEvent.id == outcome.claim_id)
                       .values(done_at=utcnow()))
    db.session.commit()


def release(outcome: Claim) -> None:
    """The handler failed: forget the claim (if still ours) so that WeChat's retry runs it again."""
    db.session.rollback()
    db.session.execute(delete(ProcessedEvent).where(ProcessedEvent.id == outcome.claim_id,
                                                    ProcessedEvent.lease_until == outcome.lease_until,
                                                    ProcessedEvent.done_at.is_(None)))
    db.session.commit()


@dataclass(frozen=True)
class DatabaseReplayGuard:
    """:class:`~idp_bridge.wechat.inbound.ReplayGuard` on ``push_signatures``, scoped to one connection."""

    connection_id: int

    def remember(self, signature: str, body_digest: str, expires_at: int) -> bool:
        if _insert_new(PushSignature, connection_id=self.connection_id, signature=signature, body_digest=body_digest,
                       received_at=utcnow(), expires_at=datetime.fromtimestamp(expires_at, UTC)) is not None:
            db.session.commit()
            return True
        known = db.session.scalar(select(PushSignature.body_digest).where(
            PushSignature.connection_id == self.connection_id, PushSignature.signature == signature))
        db.session.commit()
        return known is None or hmac.compare_digest(known, body_digest)
