"""WeChat API errors per connection and errcode (SPEC §12 overview "WeChat API errors by errcode in the last hour"):
counted in the database when WeChat (the simulator) answers an errcode, shown per connection on the overview,
nothing written for a successful call, old minutes purged."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import requests
from flask import Flask

from idp_bridge import retention
from idp_bridge.extensions import db
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import api_errors
from idp_bridge.wechat.models import ApiErrorCount, WeChatAccessToken
from tests.admin.test_console_hostile import _signed_in
from tests.login.conftest import app_config, make_connection  # noqa: F401


def _errors_cell(html: str, identifier: str) -> str:
    row = html.split(f'id="health-{identifier}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="api-errors">', 1)[1]


def test_an_errcode_answered_by_wechat_shows_on_the_overview_for_that_connection(
        app: Flask, live_url: str, make_connection: Any) -> None:  # noqa: F811
    make_connection()
    make_connection("other", app_id="wx1123456789abcdef", scene_prefix="oth_")
    browser, csrf = _signed_in(app, live_url, "admin")
    before = browser.get(f"{live_url}/admin/overview", timeout=10).text
    assert "no errors" in _errors_cell(before, "acme") and "no errors" in _errors_cell(before, "other")

    # Two checks, each stopped by stable_token answering 40164.
    queued = requests.post(f"{live_url}/_simulator/control/fail",
                           json={"endpoint": "stable_token", "errcode": 40164, "count": 2}, timeout=10)
    assert queued.status_code == 200
    for _ in range(2):
        checked = browser.post(f"{live_url}/admin/connections/acme/check", data={"csrf_token": csrf}, timeout=30)
        assert checked.status_code == 200 and "error 40164" in checked.text

    after = browser.get(f"{live_url}/admin/overview", timeout=10).text
    cell = _errors_cell(after, "acme")
    assert re.search(r'<span class="mono errcode">40164</span> × <span class="count">2</span>', cell), cell
    assert "IP whitelist" in cell  # what to do about it
    assert "no errors" in _errors_cell(after, "other")  # counted per connection
    with app.app_context():
        rows = db.session.scalars(db.select(ApiErrorCount)).all()
        assert [(r.errcode, r.count) for r in rows] == [(40164, 2)]

    # A successful call writes nothing.
    with app.app_context():
        db.session.execute(db.delete(WeChatAccessToken))
        db.session.commit()
    ok = browser.post(f"{live_url}/admin/connections/other/check", data={"csrf_token": csrf}, timeout=30)
    assert ok.status_code == 200 and "stable_token: OK" in ok.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiErrorCount)) == 1

    zh = browser.get(f"{live_url}/admin/overview", headers={"Accept-Language": "zh-CN"}, timeout=10).text
    assert "近 1 小时微信接口错误" in zh and "无错误" in _errors_cell(zh, "other")


def test_counts_are_per_minute_summed_over_the_last_hour_and_old_minutes_are_purged(
        app: Flask, make_connection: Any) -> None:  # noqa: F811
    acme = make_connection()
    other = make_connection("other", app_id="wx1123456789abcdef", scene_prefix="oth_")
    now = utcnow().replace(second=30)
    with app.app_context():
        for _ in range(3):
            api_errors.record(acme, 45009, at=now)
        api_errors.record(acme, 45009, at=now - timedelta(minutes=59))  # still inside the hour
        api_errors.record(acme, 45009, at=now - timedelta(minutes=60))  # just outside
        api_errors.record(acme, -1, at=now)
        api_errors.record(other, 40164, at=now - timedelta(hours=2))
        api_errors.record(acme, 0, at=now)  # success: ignored
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiErrorCount)) == 5
        found = {(e.connection_id, e.errcode): e.count for e in api_errors.last_hour(now)}
        assert found == {(acme, 45009): 4, (acme, -1): 1}
        assert [e.errcode for e in api_errors.last_hour(now)] == [45009, -1]  # most frequent first

        counts = retention.purge(now=now + timedelta(days=1) - timedelta(minutes=60))
        assert counts["wechat_api_errors"] == 2  # the 60- and 120-minute-old ones
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiErrorCount)) == 3


def test_a_failing_database_write_never_breaks_the_call(app: Flask) -> None:
    """No connection row 987654 (a foreign-key violation on PostgreSQL, or the row is simply counted on
    SQLite without FK enforcement): ``record`` never raises either way."""
    with app.app_context():
        api_errors.record(987654, 40164)
        db.session.execute(db.select(1))  # the session is usable afterwards
