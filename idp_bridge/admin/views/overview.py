"""Overview (SPEC §12 screen 1): sign-ins per hour (24 h) by outcome from the audit rows the login
dispatcher writes, new users per day (30 days), QR budget used today per connection, and callback health per
connection (last push received, refused pushes, WeChat API errors by errcode in the last hour). Aggregated in
SQL (GROUP BY a truncated timestamp, over the indexed ``at``/``created_at`` range only); the health table reads
two small tables (``callback_health``, ``wechat_api_errors``), never the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from idp_bridge.wechat import api_errors, health
from idp_bridge.wechat.connections import list_connections
from idp_bridge.wechat.errors import error_for

OUTCOMES = ("login.success", "login.refused")


def _bucket(column: Any, unit: str) -> ColumnElement[Any]:
    """The timestamp truncated to ``unit`` (UTC): ``date_trunc`` on PostgreSQL (a timestamp, far cheaper per
    row than formatting text), ``strftime`` text on SQLite; :func:`_key` makes both the same label."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d", column)


def _key(bucket: object, unit: str) -> str:
    if isinstance(bucket, datetime):
        return bucket.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d")
    return str(bucket)


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
    found = {(_key(b, unit), a): int(n) for b, a, n in rows}
    return labels, [Series(name.split(".")[1], [found.get((label, name), 0) for label in labels])
                    for name in OUTCOMES]


#: Sign-in counts of finished UTC days, per database: audit rows are append-only, so a finished day's count
#: never changes; only today is counted live. Keeps the overview under 300 ms with 1,000,000 audit rows.
_finished_days: dict[tuple[str, str], dict[str, int]] = {}


def daily_signins(now: datetime, days: int = 30) -> tuple[list[str], list[Series]]:
    labels = _labels(now, "day", days)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    database = db.engine.url.render_as_string(hide_password=True)
    missing = [label for label in labels[:-1] if (database, label) not in _finished_days]
    if missing:
        start = datetime.strptime(missing[0], "%Y-%m-%d").replace(tzinfo=UTC)
        counts = _count_by_day(start, today)
        for label in missing:
            _finished_days[(database, label)] = counts.get(label, {})
        for key in [k for k in _finished_days if k[0] == database and k[1] < labels[0]]:
            del _finished_days[key]
    live = _count_by_day(today, None).get(labels[-1], {})
    found = [_finished_days.get((database, label), {}) for label in labels[:-1]] + [live]
    return labels, [Series(name.split(".")[1], [day.get(name, 0) for day in found]) for name in OUTCOMES]


def _count_by_day(start: datetime, end: datetime | None) -> dict[str, dict[str, int]]:
    bucket = _bucket(AuditEvent.at, "day")
    statement = db.select(bucket, AuditEvent.action, func.count()).where(
        AuditEvent.at >= start, AuditEvent.action.in_(OUTCOMES)).group_by(bucket, AuditEvent.action)
    if end is not None:
        statement = statement.where(AuditEvent.at < end)
    counts: dict[str, dict[str, int]] = {}
    for b, action, n in db.session.execute(statement).all():
        counts.setdefault(_key(b, "day"), {})[action] = int(n)
    return counts


def new_users(now: datetime, days: int = 30) -> tuple[list[str], list[Series]]:
    labels = _labels(now, "day", days)
    bucket = _bucket(User.created_at, "day")
    rows = db.session.execute(db.select(bucket, func.count()).where(
        User.created_at >= now - timedelta(days=days)).group_by(bucket)).all()
    found = {_key(b, "day"): int(n) for b, n in rows}
    return labels, [Series("users", [found.get(label, 0) for label in labels])]


def callback_health(connections: list[Any], now: datetime) -> list[dict[str, Any]]:
    """One row per connection: what the callback last saw and the API errors of the last hour, each errcode
    with the sentence that says what to do about it (``wechat.errors``)."""
    seen = health.of_all()
    errors: dict[int, list[dict[str, Any]]] = {}
    for row in api_errors.last_hour(now):
        errors.setdefault(row.connection_id, []).append(
            {"errcode": row.errcode, "count": row.count, "hint": error_for(row.errcode, "").hint})
    never = health.Health(None, None, None, None, 0)
    return [{"identifier": c.identifier, "health": seen.get(c.id, never), "errors": errors.get(c.id, [])}
            for c in connections]


@bp.get("/overview")
def overview() -> Response:
    now = utcnow()
    words = g.admin_words
    hourly = signins(now)
    daily = daily_signins(now)
    users = new_users(now)
    connections = list_connections()
    budgets = [{"identifier": c.identifier, "used": budget_used(c.id), "budget": DAILY_BUDGET}
               for c in connections]
    charts = [(words[key], bars(words[key], *data, chart_id=chart_id)) for key, data, chart_id in (
        ("chart_hourly", hourly, "signins-hourly"), ("chart_daily", daily, "signins-daily"),
        ("chart_users", users, "new-users"))]
    return page("overview.html", budgets=budgets, charts=charts,
                health_rows=callback_health(connections, now))
