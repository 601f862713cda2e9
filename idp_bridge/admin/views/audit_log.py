"""Audit log screen (SPEC §12 screen 5): filter by actor, action, target and dates; keyset-paginated
(newest first by id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import request
from werkzeug.wrappers import Response

from idp_bridge.admin import bp
from idp_bridge.admin.views.render import page
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.numbers import parse_int_or

PAGE = 100


def _day(raw: str | None) -> datetime | None:
    try:
        return datetime.strptime(raw or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@bp.get("/audit")
def audit_log() -> Response:
    filters = {name: request.args.get(name, "")[:128] for name in ("actor", "action", "target", "since", "until")}
    statement = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE)
    for name in ("actor", "action", "target"):
        if filters[name]:
            statement = statement.where(getattr(AuditEvent, name) == filters[name])
    if (since := _day(filters["since"])) is not None:
        statement = statement.where(AuditEvent.at >= since)
    if (until := _day(filters["until"])) is not None:
        statement = statement.where(AuditEvent.at < until + timedelta(days=1))
    before = parse_int_or(request.args.get("before"), 0)
    if before:
        statement = statement.where(AuditEvent.id < before)
    rows = list(db.session.scalars(statement))
    more = rows[-1].id if len(rows) == PAGE else None
    return page("audit.html", rows=rows, filters=filters, more=more)
