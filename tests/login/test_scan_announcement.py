"""What a waiting page is told about a sign-in scan (SPEC §7.3, §16 scan → application).

The scan fixes the scanner at once (one compare-and-set, SPEC §15), but the page is woken by the decision that
follows in the same push: a "scanned" shown for the milliseconds until then would only take CPU from the
decision. When WeChat's ``user/info`` is slow, or no decision comes, the page is told of the scan on its own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.login.conftest import Browser, scan


def _states(browser: Browser) -> list[str]:
    return [event["state"] for event in browser.events]


def test_a_sign_in_scan_wakes_the_page_once_with_its_decision(live_url: str, rp: tuple[str, str]) -> None:
    browser = Browser(live_url)
    browser.start(rp[0])
    browser.scanned("Alice")
    assert _states(browser) == ["waiting", "succeeded"], browser.events


def test_a_slow_user_info_shows_the_scan_meanwhile(live_url: str, rp: tuple[str, str]) -> None:
    requests.post(f"{live_url}/_simulator/control/delay", json={"endpoint": "user_info", "seconds": 0.8},
                  timeout=5).raise_for_status()
    try:
        browser = Browser(live_url)
        browser.start(rp[0])
        seen: dict[str, float] = {}
        listener = browser.listen()
        time.sleep(0.2)
        started = time.monotonic()
        scan(live_url, browser.ticket, "Bob", "follow")
        listener.join(10)
        seen["done"] = time.monotonic() - started
    finally:
        requests.post(f"{live_url}/_simulator/control/delay", json={"endpoint": "user_info", "seconds": 0},
                      timeout=5)
    assert _states(browser) == ["waiting", "scanned", "succeeded"], browser.events
    assert seen["done"] >= 0.8  # the decision waited for user/info; the page knew of the scan before it


def test_a_scan_whose_decision_fails_is_still_shown(live_url: str, rp: tuple[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A push that fails after fixing the scanner (WeChat re-delivers it) still tells the page of the scan."""
    from idp_bridge.login import dispatcher

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("resolution failed")

    monkeypatch.setattr(dispatcher, "resolve", broken)
    browser = Browser(live_url)
    browser.start(rp[0])
    listener = browser.listen(until=("scanned",))
    time.sleep(0.2)
    scan(live_url, browser.ticket, "Carol", "follow")
    listener.join(10)
    assert _states(browser) == ["waiting", "scanned"], browser.events
