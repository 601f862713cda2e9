"""Audit log: who did what, when, from where — logins, refusals, administrative changes, key
rotations. Recording never fails the action it records: an audit write error is logged instead."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp_bridge.dbtypes import UTCDateTime
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow

log = logging.getLogger(__name__)

#: Who runs administrative code outside a request: the CLI sets ``cli:<os user>`` (SPEC §12: every action
#: names its actor); code run by the application itself stays ``system``.
_actor: ContextVar[str] = ContextVar("audit_actor", default="system")


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Name the actor of the administrative actions run inside (the CLI's entry point)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    """The console's signed-in admin (``g.audit_actor``, set per request), else the context's actor."""
    if has_request_context() and g.get("audit_actor"):
        return str(g.audit_actor)
    return _actor.get()


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """One audited action."""

    __tablename__ = "audit_events"
    # the console's overview counts sign-ins per hour/day by action: an index-only range scan (SPEC §12)
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(128), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def describe(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "action": self.action, "actor": self.actor, "target": self.target,
                "outcome": self.outcome, "ip": self.ip, "request_id": self.request_id, "details": self.details}


def record(action: str, *, actor: str, target: str = "", outcome: str = "ok", commit: bool = True,
           **details: Any) -> None:
    """Append one event (in its own transaction, or with ``commit=False`` in the caller's, so that it lands
    together with the change it records). Never pass secrets, codes or tokens in ``details``."""
    in_request = has_request_context()
    event = AuditEvent(
        action=action[:48], actor=actor[:128], target=target[:128], outcome=outcome[:32],
        ip=(request.remote_addr if in_request else None), request_id=(g.get("request_id") if in_request else None),
        details={k: v for k, v in details.items() if v is not None})
    if not commit:
        db.session.add(event)
        return
    try:
        db.session.add(event)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not write the audit event %s", action)


def query(action: str | None = None, since: datetime | None = None, limit: int = 100) -> list[AuditEvent]:
    statement = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if since:
        statement = statement.where(AuditEvent.at >= since)
    return list(db.session.scalars(statement))
