"""Fixtures for event tests: a receiving HTTP server, and an app allowed to call it on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.events.receiver import Receiver, start_receiver
from tests.login.conftest import connection_id, make_connection, rp  # noqa: F401  (login fixtures, shared)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from start_receiver()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The receiver listens on loopback: allow private targets (one test turns it off again)."""
    return {**app_config, "webhook_allow_private": True}
