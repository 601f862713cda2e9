"""Fixtures of the callback tests: one connection per encryption mode and a login handler that records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from idp_bridge.wechat.connections import create_connection
from idp_bridge.wechat.dispatch import LoginEvent, set_login_event_handler

APP_ID = "wx0123456789abcdef"
TOKEN = "MyToken123"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
GH = "gh_0123456789ab"


class Recorder:
    """A login handler that records what reached it and answers a reply text."""

    def __init__(self) -> None:
        self.events: list[LoginEvent] = []
        self.fail = False

    def __call__(self, event: LoginEvent) -> str | None:
        if self.fail:
            raise RuntimeError("boom")
        self.events.append(event)
        return "欢迎 <b>登录</b> ]]> done"


@pytest.fixture(params=["plaintext", "compatible", "safe"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def recorder(app: Flask) -> Recorder:
    rec = Recorder()
    set_login_event_handler(app, rec)
    return rec


@pytest.fixture
def conn(app: Flask, mode: str, recorder: Recorder) -> Iterator[dict[str, Any]]:
    with app.app_context():
        create_connection(
            app.config["SECRET_KEY"], identifier="acme", display_name="ACME", app_id=APP_ID,
            app_secret="0123456789abcdef0123456789abcdef", token=TOKEN, encryption=mode,
            encoding_aes_key=None if mode == "plaintext" else KEY, scene_prefix="login_",
        )
    yield {"mode": mode, "key": None if mode == "plaintext" else KEY}


def url(base: str, identifier: str = "acme") -> str:
    return f"{base}/connections/social/{identifier}/events"
