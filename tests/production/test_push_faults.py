"""A push counts as processed only once its effects are committed (SPEC §7.4): gunicorn workers SIGKILLed while
the login handler waits on WeChat's ``user/info``, then WeChat's re-delivery of the very same request (WeChat docs
"接收普通消息": no answer within 5 s → the same push again, three times) completes the login exactly once.

Real ``idp-bridge serve --workers 2`` on PostgreSQL; the simulator plays WeChat's API with a slow ``user/info``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from idp_bridge.accounts.models import Identity, User
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.simulator.state import openid_for
from idp_bridge.wechat.models import ProcessedEvent
from tests.conftest import throwaway_pg_database
from tests.login.conftest import Browser
from tests.production.conftest import (
    AES,
    APP_ID,
    TOKEN,
    Served,
    _db_app,
    _setup,
    migrated_env,
    running_serve,
    wait_ready,
)
from tests.production.test_outages import _workers
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

WECHAT_RETRY_INTERVAL = 5.0  # WeChat waits 5 s for an answer before re-delivering


@pytest.fixture
def served_pg(tmp_path: Path, simulator: LiveServer) -> Iterator[Served]:
    """``idp-bridge serve --workers 2`` on a PostgreSQL database of its own."""
    with throwaway_pg_database("idp_pushfault") as url:
        env, port = migrated_env(url, tmp_path, simulator.url)
        with running_serve(env, port, "--workers", "2", "--threads", "8") as served:
            yield served


def _calls(simulator: LiveServer, endpoint: str) -> int:
    return int(requests.get(f"{simulator.url}/control/calls", timeout=5).json().get(endpoint, 0))


def test_workers_killed_mid_push_then_wechat_retry_completes_the_login_once(
    served_pg: Served, simulator: LiveServer
) -> None:
    client_id = _setup(served_pg, simulator)
    browser = Browser(served_pg.url)
    assert browser.start(client_id).status_code == 200
    app = _db_app(served_pg)
    with app.app_context():
        scene = db.session.get(LoginSession, browser.login_session).scene  # type: ignore[union-attr]
        db.session.remove()
    openid = openid_for(APP_ID, "Kim")
    xml = render_event_xml("gh_simulated0001", openid, int(time.time()), "subscribe", "qrscene_" + scene, "T")
    push = build_push(xml, token=TOKEN, mode="safe", app_id=APP_ID, openid=openid, to_user="gh_simulated0001",
                      encoding_aes_key=AES)
    callback = f"{served_pg.url}/connections/social/acme/events"

    def deliver() -> int | None:
        try:
            return requests.post(callback, params=push.params, data=push.body, timeout=10).status_code
        except requests.RequestException:
            return None  # the worker died under the request: WeChat sees no answer

    requests.post(f"{simulator.url}/control/delay", json={"endpoint": "user_info", "seconds": 10}, timeout=5)
    before = _calls(simulator, "user_info")
    first = threading.Thread(target=deliver, daemon=True)
    sent = time.monotonic()
    first.start()
    deadline = time.monotonic() + 5
    while _calls(simulator, "user_info") == before:  # the handler is now waiting on user/info
        assert time.monotonic() < deadline, "the push never reached the login handler"
        time.sleep(0.01)
    for pid in _workers(served_pg.process.pid):
        os.kill(pid, signal.SIGKILL)
    requests.post(f"{simulator.url}/control/delay", json={"endpoint": "user_info", "seconds": 0}, timeout=5)
    first.join(10)
    with app.app_context():
        interrupted = db.session.get(LoginSession, browser.login_session)
        assert interrupted is not None and interrupted.state != "succeeded"
        db.session.remove()
    assert wait_ready(served_pg.url), "gunicorn did not replace the killed workers"

    answers = []
    for _ in range(3):  # WeChat's re-deliveries: the same query string and body, 5 s apart
        time.sleep(max(0.0, sent + WECHAT_RETRY_INTERVAL * (len(answers) + 1) - time.monotonic()))
        answers.append(deliver())
        if answers[-1] == 200:
            break
    assert answers[-1] == 200, answers

    listener = browser.listen()
    listener.join(10)
    assert browser.events and browser.events[-1]["state"] == "succeeded", browser.events
    assert "code=" in browser.finish().headers["Location"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Identity)) == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1
        claims = db.session.execute(db.select(ProcessedEvent.done_at)).all()
        assert len(claims) == 1 and claims[0][0] is not None
        db.session.remove()
        db.engine.dispose()
