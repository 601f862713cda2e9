"""SPEC §15 "Push integrity" over real HTTP on both databases: what an observer of WeChat's traffic (a mode-2
forwarder, a TLS-terminating CDN, a log pipeline) can replay, and what it cannot.

Compatible and safe modes trust only the body that ``msg_signature`` covers; plaintext mode, whose
``signature`` covers only token/timestamp/nonce, refuses a signature already seen with another body while
still letting WeChat's re-delivery of the same body through to de-duplication.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.simulator.push import build_push, render_event_xml
from idp_bridge.wechat.dispatch import set_login_event_handler
from idp_bridge.wechat.models import ProcessedEvent
from tests.support.live import LiveServer
from tests.wechat.conftest import APP_ID, GH, TOKEN, Recorder
from tests.wechat.conftest import url as _url

VICTIM, ATTACKER_SCENE = "oVICTIM", "login_attacker"


def _genuine(conn: dict[str, Any], mode: str | None = None) -> Any:
    """A push WeChat really sent: some user's SCAN of some login QR."""
    xml = render_event_xml(GH, "oSOMEONE", int(time.time()), "SCAN", "login_genuine", "T")
    return build_push(xml, token=TOKEN, mode=mode or conn["mode"], app_id=APP_ID, openid="oSOMEONE", to_user=GH,
                      encoding_aes_key=conn["key"])


def _forged_body(openid: str = VICTIM, scene: str = ATTACKER_SCENE) -> bytes:
    return render_event_xml(GH, openid, int(time.time()), "SCAN", scene, "T").encode()


def _state(app: Flask, recorder: Recorder) -> tuple[list[tuple[str, str]], int]:
    with app.app_context():
        rows = db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) or 0
        db.session.remove()
    return [(e.openid, e.scene) for e in recorder.events], rows

def _genuine_then_forged(live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any],
                         keep: tuple[str, ...] | None) -> tuple[list[tuple[str, str]], int]:
    """Deliver a genuine push, then the forged body under its query (only the ``keep`` parameters when
    given); asserts the forgery is refused with 403 and returns the state before it."""
    genuine = _genuine(conn)
    assert requests.post(_url(live_url), params=genuine.params, data=genuine.body, timeout=10).status_code == 200
    before = _state(app, recorder)
    params = genuine.params if keep is None else {k: genuine.params[k] for k in keep}
    answer = requests.post(_url(live_url), params=params, data=_forged_body(), timeout=10)
    assert answer.status_code == 403, answer.text
    return before


@pytest.mark.parametrize("mode", ["compatible", "safe"])
def test_encrypted_modes_refuse_a_replayed_signature_with_a_plaintext_body(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    """SPEC §15: compatible mode requires ``encrypt_type=aes`` and ``msg_signature``; a downgrade is 403."""
    before = _genuine_then_forged(live_url, app, recorder, conn, ("signature", "timestamp", "nonce", "openid"))
    assert _state(app, recorder) == before
    assert VICTIM not in [event.openid for event in recorder.events]


@pytest.mark.parametrize("mode", ["compatible", "safe"])
def test_encrypted_modes_refuse_encrypt_type_without_msg_signature(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    genuine = _genuine(conn)
    params = {k: v for k, v in genuine.params.items() if k != "msg_signature"}
    answer = requests.post(_url(live_url), params=params, data=genuine.body, timeout=10)
    assert answer.status_code == 403, answer.text
    assert _state(app, recorder) == ([], 0)


@pytest.mark.parametrize("mode", ["plaintext"])
def test_plaintext_signature_seen_with_another_body_is_refused(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    """SPEC §15: in plaintext mode a (timestamp, nonce, signature) seen with another body in the window → 403."""
    before = _genuine_then_forged(live_url, app, recorder, conn, None)
    assert _state(app, recorder) == before == ([("oSOMEONE", "login_genuine")], 1)


@pytest.mark.parametrize("mode", ["plaintext"])
def test_plaintext_redelivery_of_the_same_body_is_accepted_and_processed_once(
    live_url: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    """WeChat re-delivers the same request when it got no answer in 5 s: not a replay, a duplicate."""
    genuine = _genuine(conn)
    for _ in range(3):
        answer = requests.post(_url(live_url), params=genuine.params, data=genuine.body, timeout=10)
        assert answer.status_code == 200, answer.text
    assert _state(app, recorder) == ([("oSOMEONE", "login_genuine")], 1)


@pytest.fixture
def second_worker(app_config: dict[str, Any], recorder: Recorder) -> Iterator[str]:
    """Another app on the same database, as another gunicorn worker would be."""
    other = create_app(app_config)
    set_login_event_handler(other, recorder)
    live = LiveServer()
    live.attach(other)
    live.start()
    yield live.url
    live.stop()
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("mode", ["plaintext"])
def test_plaintext_replay_memory_is_shared_by_workers(
    live_url: str, second_worker: str, app: Flask, recorder: Recorder, conn: dict[str, Any], mode: str
) -> None:
    genuine = _genuine(conn)
    assert requests.post(_url(live_url), params=genuine.params, data=genuine.body, timeout=10).status_code == 200
    answer = requests.post(_url(second_worker), params=genuine.params, data=_forged_body(), timeout=10)
    assert answer.status_code == 403, answer.text
    same = requests.post(_url(second_worker), params=genuine.params, data=genuine.body, timeout=10)
    assert (same.status_code, same.text) == (200, "success")
    assert _state(app, recorder) == ([("oSOMEONE", "login_genuine")], 1)
