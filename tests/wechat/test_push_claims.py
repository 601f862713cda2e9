"""A push counts as processed only once its effects are committed (SPEC §7.4), on SQLite and PostgreSQL.

WeChat re-delivers a push it got no answer to, three times ~5 s apart (WeChat docs "接收普通消息"). A worker
killed mid-handler leaves its claim unfinished; the re-delivery must take it over once the lease ran out, be
told to come back later (503) while the lease is live, and be a mere duplicate once the work is done. The
multi-process version with real SIGKILLs is ``tests/production/test_push_faults.py``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge.extensions import db
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import claims, messages
from idp_bridge.wechat.dispatch import LoginEvent, set_login_event_handler
from idp_bridge.wechat.models import Connection, ProcessedEvent
from tests.wechat.conftest import APP_ID, GH, TOKEN, Recorder
from tests.wechat.conftest import url as _url


def _xml() -> str:
    return render_event_xml(GH, "oUSER", int(time.time()), "SCAN", "login_abc", "T")


def _dedupe_key(xml: str) -> str:
    return messages.dedupe_key(messages.parse_message(messages.parse_xml(xml.encode())))


def _deliver(base: str, conn: dict[str, Any], xml: str) -> requests.Response:
    push = build_push(xml, token=TOKEN, mode=conn["mode"], app_id=APP_ID, openid="oUSER", to_user=GH,
                      encoding_aes_key=conn["key"])
    return requests.post(_url(base), params=push.params, data=push.body, timeout=10)


def _claim_left_by_a_worker(app: Flask, xml: str, seconds_ago: float) -> None:
    """What a worker leaves behind when it is killed ``seconds_ago`` after claiming the push."""
    with app.app_context():
        connection = db.session.scalar(db.select(Connection))
        assert connection is not None
        taken = claims.claim(connection.id, _dedupe_key(xml), now=utcnow() - timedelta(seconds=seconds_ago))
        assert taken.status == "claimed"
        db.session.remove()


def _claim_rows(app: Flask) -> list[tuple[bool, bool]]:
    """(leased, done) per claim row."""
    with app.app_context():
        rows = db.session.execute(db.select(ProcessedEvent.lease_until, ProcessedEvent.done_at)).all()
        db.session.remove()
    return [(lease is not None, done is not None) for lease, done in rows]


@pytest.mark.parametrize("mode", ["safe"])
def test_a_claim_whose_worker_died_is_taken_over_by_the_redelivery(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    xml = _xml()
    _claim_left_by_a_worker(app, xml, seconds_ago=claims.LEASE_SECONDS + 1)
    answer = _deliver(live_url, conn, xml)
    assert answer.status_code == 200 and answer.text != "success"  # the handler ran: a passive reply
    assert [e.scene for e in recorder.events] == ["login_abc"]
    assert _claim_rows(app) == [(True, True)]
    again = _deliver(live_url, conn, xml)
    assert (again.status_code, again.text) == (200, "success") and len(recorder.events) == 1


@pytest.mark.parametrize("mode", ["plaintext"])
def test_a_redelivery_during_a_live_lease_is_asked_to_retry(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    xml = _xml()
    _claim_left_by_a_worker(app, xml, seconds_ago=0)
    busy = _deliver(live_url, conn, xml)
    assert busy.status_code == 503 and recorder.events == []  # not "success": WeChat will try again
    assert _claim_rows(app) == [(True, False)]


class SlowHandler:
    """A login handler that takes a while, like one waiting on WeChat's user/info."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls, self.lock = seconds, 0, threading.Lock()

    def __call__(self, event: LoginEvent) -> str | None:
        with self.lock:
            self.calls += 1
        time.sleep(self.seconds)
        return "welcome"


@pytest.mark.parametrize("mode", ["compatible"])
def test_concurrent_redeliveries_run_the_handler_once(
    live_url: str, app: Flask, conn: dict[str, Any], mode: str
) -> None:
    handler = SlowHandler(0.5)
    set_login_event_handler(app, handler)
    xml = _xml()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _deliver(live_url, conn, xml), range(8)))
    assert handler.calls == 1
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 503}
    assert sum(1 for a in answers if a.status_code == 200 and a.text != "success") == 1  # one passive reply
    assert _claim_rows(app) == [(True, True)]
