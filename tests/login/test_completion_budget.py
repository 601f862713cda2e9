"""SPEC §16 (event → relying party): once WeChat's push has signed the visitor in, the browser's last leg —
``/login/<pid>/complete``, which answers with the resumed authorization's redirect and its code — stays within
its database budget and its one request. Every statement here is latency the person waits through after scanning."""

from __future__ import annotations

import time

from flask import Flask

from idp_bridge.extensions import db
from tests.login.conftest import REDIRECT, Browser
from tests.support.statements import counting

# /complete: pending authorization, login session and user read; then one transaction holds the one-time move
# to completed (PostgreSQL: + its NOTIFY), the SSO session, its audit row, the user.login event (new_follower is
# the login session's own column), and the resumed authorization answered in the same request: the pending
# authorization's user and its consumption in one UPDATE (no second read: the transaction is still open) and the
# code (the user is the one just read).
STATEMENTS = {"sqlite": 9, "postgresql": 10}
TRANSACTIONS = {"sqlite": 1, "postgresql": 1}


def test_completion_after_the_scan_within_budget(app: Flask, live_url: str, rp: tuple[str, str]) -> None:
    warm = Browser(live_url)  # the process meets the client, the connection and the signing key once
    warm.start(rp[0])
    warm.scanned("Warm")
    assert warm.finish().headers["Location"].startswith(REDIRECT)
    time.sleep(0.6)  # the cache listener settles on the new signing key's version

    browser = Browser(live_url)
    browser.start(rp[0])
    browser.scanned("Alice")
    assert browser.events[-1]["state"] == "succeeded"
    with app.app_context():
        engine, kind = db.engine, db.engine.dialect.name
    with counting(engine) as tally:
        final = browser.session.get(browser.base + browser.events[-1]["next"], allow_redirects=False, timeout=10)
    # One browser round trip: the completion request itself answers with the client's redirect.
    assert final.status_code == 302 and final.headers["Location"].startswith(REDIRECT), final.text
    assert len(tally.statements) <= STATEMENTS[kind], tally.report()
    assert tally.commits <= TRANSACTIONS[kind], tally.report()
