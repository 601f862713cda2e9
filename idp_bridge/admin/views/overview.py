"""Overview (SPEC §12 screen 1): sign-ins per hour (24 h) by outcome from the audit rows the login
dispatcher writes, new users per day (30 days), QR budget used today per connection. Aggregated in SQL
(GROUP BY a truncated timestamp, over the indexed ``at``/``created_at`` range only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import g
from sqlalchemy import ColumnElement, func
from werkzeug.wrappers import Response

from idp_bridge.accounts.models import User
from idp_bridge.admin import bp
from idp_bridge.admin.charts import Series, bars
from idp_bridge.admin.views.render import page
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.login.limits import DAILY_BUDGET, budget_used
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.connections import list_connections

OUTCOMES = ("login.success", "login.refused")


def _bucket(column: Any, unit: str) -> ColumnElement[Any]:
    """The timestamp truncated to ``unit`` as text 'YYYY-MM-DD[ HH]', the same on both databases."""
    if db.engine.dialect.name == "postgresql":
        fmt = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), fmt)
    return func.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d", column)


def _labels(now: datetime, unit: str, count: int) -> list[str]:
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    fmt = "%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d"
    return [(now - step * (count - 1 - i)).strftime(fmt) for i in range(count)]


def signins(now: datetime, unit: str = "hour", count: int = 24) -> tuple[list[str], list[Series]]:
    labels = _labels(now, unit, count)
    since = now - (timedelta(hours=count) if unit == "hour" else timedelta(days=count))
    bucket = _bucket(AuditEvent.at, unit)
    rows = db.session.execute(db.select(bucket, AuditEvent.action, func.count()).where(
        AuditEvent.at >= since, AuditEvent.action.in_(OUTCOMES)).group_by(bucket, AuditEvent.action)).all()
    found = {(str(b), a): int(n) for b, a, n in rows}
    return labels, [Series(name.split(".")[1], [found.get((label, name), 0) for label in labels])
                    for name in OUTCOMES]


def new_users(now: datetime, days: int = 30) -> tuple[list[str], list[Series]]:
    labels = _labels(now, "day", days)
    bucket = _bucket(User.created_at, "day")
    rows = db.session.execute(db.select(bucket, func.count()).where(
        User.created_at >= now - timedelta(days=days)).group_by(bucket)).all()
    found = {str(b): int(n) for b, n in rows}
    return labels, [Series("users", [found.get(label, 0) for label in labels])]


@bp.get("/overview")
def overview() -> Response:
    now = utcnow()
    words = g.admin_words
    hourly = signins(now)
    daily = signins(now, "day", 30)
    users = new_users(now)
    budgets = [{"identifier": c.identifier, "used": budget_used(c.id), "budget": DAILY_BUDGET}
               for c in list_connections()]
    charts = [(words[key], bars(words[key], *data, chart_id=chart_id)) for key, data, chart_id in (
        ("chart_hourly", hourly, "signins-hourly"), ("chart_daily", daily, "signins-daily"),
        ("chart_users", users, "new-users"))]
    return page("overview.html", budgets=budgets, charts=charts)
