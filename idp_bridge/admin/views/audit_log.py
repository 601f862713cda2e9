"""Audit log screen (SPEC §12 screen 5): filter by actor, action, target and dates; keyset-paginated
(newest first by id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import request
from werkzeug.wrappers import Response

from idp_bridge.admin import bp
from idp_bridge.admin.csvexport import batches, stream
from idp_bridge.admin.views.render import page
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.numbers import ROW_ID_MAX, parse_int_or

PAGE = 100


def _day(raw: str | None) -> datetime | None:
    try:
        return datetime.strptime(raw or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _filters() -> dict[str, str]:
    return {name: request.args.get(name, "")[:128] for name in ("actor", "action", "target", "since", "until")}


def matching(filters: dict[str, str], before: int, limit: int = PAGE) -> list[AuditEvent]:
    """Newest first by id; ``before`` is the keyset cursor."""
    statement = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    for name in ("actor", "action", "target"):
        if filters[name]:
            statement = statement.where(getattr(AuditEvent, name) == filters[name])
    if (since := _day(filters["since"])) is not None:
        statement = statement.where(AuditEvent.at >= since)
    if (until := _day(filters["until"])) is not None:
        statement = statement.where(AuditEvent.at < until + timedelta(days=1))
    if before:
        statement = statement.where(AuditEvent.id < before)
    return list(db.session.scalars(statement))


@bp.get("/audit")
def audit_log() -> Response:
    filters = _filters()
    rows = matching(filters, parse_int_or(request.args.get("before"), 0, maximum=ROW_ID_MAX))
    more = rows[-1].id if len(rows) == PAGE else None
    return page("audit.html", rows=rows, filters=filters, more=more)


@bp.get("/audit.csv")
def audit_csv() -> Response:
    filters = _filters()
    rows = batches(lambda before, limit: matching(filters, before, limit), lambda e: e.id)
    return stream("audit.csv", ["at", "action", "actor", "target", "outcome", "ip", "request_id"],
                  ([e.at.isoformat(), e.action, e.actor, e.target, e.outcome, e.ip, e.request_id] for e in rows))
