"""SPEC §16: the SSO path (authorize with a session cookie, then the code exchange) stays within its
database budget — at most 2 transactions and 6 statements once the process is warm. A change that adds a
round trip to this path fails here before it shows in the benchmark.

On PostgreSQL every statement of the path is its own transaction (autocommit: no BEGIN or COMMIT round trip),
so the login costs as many round trips as statements: four."""

from __future__ import annotations

import time

import requests
from flask import Flask

from idp_bridge.cache.listener import POLL_SECONDS
from idp_bridge.extensions import db
from tests.oidc.conftest import Rp, redeem
from tests.support.statements import counting

# authorize: the SSO session with its user, then the code; token: the code consumed with its user (one statement
# on PostgreSQL, two on SQLite, which has no UPDATE in WITH), then the tokens unless a replay marked the code.
# Each statement runs on its own in autocommit; on SQLite the user's read opens the request's transaction, which
# the tokens' INSERT joins and commits.
STATEMENTS = {"postgresql": 4, "sqlite": 5}
COMMITS = {"postgresql": 0, "sqlite": 1}


def _sso_login(login: object, rp: Rp, live_url: str) -> dict[str, object]:
    done = login(rp, expect_login=False)  # type: ignore[operator]
    assert "code" in done.params, done.response.text
    return redeem(rp, live_url, done)


def test_sso_login_within_budget(app: Flask, live_url: str, login: object, rp: Rp,
                                 browser: requests.Session) -> None:
    login(rp)  # type: ignore[operator]  # the interactive login that creates the SSO session
    _sso_login(login, rp, live_url)  # warm: the process meets this client and creates the signing key
    time.sleep(2 * POLL_SECONDS)  # the cache listener sees the new key's version and drops the entry once
    _sso_login(login, rp, live_url)  # warm again: the key is cached under its settled version
    with app.app_context():
        engine = db.engine
    with counting(engine) as tally:
        tokens = _sso_login(login, rp, live_url)
    assert "id_token" in tokens
    assert len(tally.statements) <= STATEMENTS[engine.dialect.name], tally.report()
    assert tally.commits <= COMMITS[engine.dialect.name], tally.report()
