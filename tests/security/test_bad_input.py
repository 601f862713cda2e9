"""Bad-input battery (SPEC §11, §15 "Malformed input"): hostile, malformed, oversized and wrongly-encoded
requests against every route of the app (enumerated from the URL map, so new routes are covered
automatically), over real HTTP.

Zero 5xx, zero stack traces (in answers and in the logs), and nothing written on refusal. The number of
cases tried and the request rate are printed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hostile import Attack, battery
from tests.support.rawhttp import RawClient
from tests.support.rows import row_counts
from tests.support.world import REDIRECT, World, build_world

CASES: list[int] = []
HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "%00", "\u202e", "🙂" * 50,
                     "A" * 5000, "javascript:alert(1)", "{{7*7}}", "${jndi:ldap://x}", "\r\nSet-Cookie: x=1"]),
)
BODIES = st.one_of(st.binary(max_size=2000), st.just(b"\xff\xfe\x00" * 100), st.just(b"<xml>" * 2000),
                   st.just(b'{"a":' * 500), st.just(b"A" * 200_000))


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "simulator": True}


def _routes(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "FUZZ", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


def _row_counts(app: Flask) -> dict[str, int]:
    return row_counts(app)


def _check(response: requests.Response) -> None:
    CASES.append(1)
    assert response.status_code < 500 or response.status_code in (502, 503), (response.request.url,
                                                                            response.status_code)
    assert "Traceback" not in response.text and 'File "/' not in response.text


def _console_client_exists(app: Flask) -> None:
    """The console creates its own OIDC client on first use (SPEC §12), as JWKS creates the first key: let it
    exist beforehand so that only rows caused by the hostile requests count."""
    from idp_bridge.admin.signin import ensure_client

    with app.app_context():
        ensure_client()


def test_every_route_survives_hostile_input(app: Flask, live_url: str) -> None:
    CASES.clear()
    routes = _routes(app)
    assert len(routes) > 20
    _console_client_exists(app)
    before = _row_counts(app)
    session = requests.Session()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(segment=HOSTILE_TEXT, key=HOSTILE_TEXT, value=HOSTILE_TEXT, body=BODIES,
           ctype=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/xml",
                                  "multipart/form-data; boundary=x", "text/plain; charset=gbk"]))
    def attack(segment: str, key: str, value: str, body: bytes, ctype: str) -> None:
        for method, path in routes:
            url = live_url + path.replace("FUZZ", requests.utils.quote(segment or "x", safe=""))
            try:
                response = session.request(method, url, params={key: value, "client_id": value}, data=body,
                                           headers={"Content-Type": ctype, "Authorization": f"Bearer {value[:100]}",
                                                    "Cookie": f"idpb_browser={value[:100]}"},
                                           timeout=30, allow_redirects=False)
            except (requests.exceptions.InvalidHeader, UnicodeEncodeError):
                continue  # the client library refuses to send it: nothing reached the server
            _check(response)

    attack()
    after = _row_counts(app)
    grown = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    # Only counters and keys the app creates for itself may appear; no user, client, connection, token, code.
    # (creating the first signing key also moves its cache version, so that every worker learns of it)
    assert set(grown) <= {"signing_keys", "cache_versions", "qr_counters", "pending_authorizations"}, grown
    print(f"\nbad-input battery: {len(CASES)} requests over {len(routes)} routes, no 500, no traceback")


# Tables a request the gate passes on (odd but valid input) may legitimately write, exactly as the same
# request with ordinary input does: an authorization waiting for login, the login session and QR of the login
# page, a code for the signed-in browser, rate counters (refusals are what they count), audit events and the
# callback's health row (the last refused push is what it shows), a client-authentication lock-out (failed
# authentications are what it counts) and the version row that tells every worker about it.
# Never users, identities, applications, connections, tokens, SSO sessions or consents.
ODD_INPUT_MAY_WRITE = {"pending_authorizations", "login_sessions", "authorization_codes", "rate_counters",
                       "audit_events", "callback_health", "auth_lockouts", "cache_versions"}
CLIENT_THREADS = 3


class _Problems(logging.Handler):
    """Every error record or record with a traceback, from any logger, while the battery runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in record.getMessage():
            self.records.append(f"{record.name}: {record.getMessage()[:300]}")


@pytest.fixture
def problems() -> Iterator[_Problems]:
    handler = _Problems()
    root, server_log = logging.getLogger(), logging.getLogger("werkzeug")
    level = server_log.level
    server_log.setLevel(logging.WARNING)  # one access line per request would dominate the run time
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    server_log.setLevel(level)


def _send_all(live_url: str, attacks: list[Attack]) -> list[str]:
    """Send every attack over a few keep-alive connections; return what went wrong."""
    parts = urlsplit(live_url)

    def run(share: list[Attack]) -> list[str]:
        client, failures = RawClient(parts.hostname or "127.0.0.1", parts.port or 80), []
        try:
            for attack in share:
                response = client.request(attack.method, attack.target, list(attack.headers), attack.body)
                wrong = (response.status >= 500 or attack.expect not in (None, response.status)
                         or "Traceback" in response.text or 'File "/' in response.text)
                if wrong:
                    failures.append(f"{response.status} {attack.label}: {attack.method} {attack.target[:200]!r} "
                                    f"headers={[(k, v[:80]) for k, v in attack.headers]} body={attack.body[:120]!r}")
        finally:
            client.close()
        return failures

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return [f for found in pool.map(run, [attacks[i::CLIENT_THREADS] for i in range(CLIENT_THREADS)])
                for f in found]


def _world_is_intact(live_url: str, world: World) -> tuple[str, str]:
    """The waiting browser's login page still shows its QR, and the signed-in browser still gets a code."""
    parts = urlsplit(live_url)
    client = RawClient(parts.hostname or "127.0.0.1", parts.port or 80)
    page = client.request("GET", f"/login/{world.pending_id}", [("Cookie", world.browser_cookies)])
    signed_in = client.request("GET", "/oauth/authorize?" + urlencode(world.authorize_params()),
                               [("Cookie", world.sso_cookies)])
    client.close()
    location = signed_in.headers.get("location", "")
    return ("QR page" if page.status == 200 and "<svg" in page.text else f"page {page.status}",
            "code" if location.startswith(REDIRECT) and "code=" in location else f"authorize {signed_in.status}")


def test_raw_bytes_on_every_route_in_every_place(app: Flask, live_url: str, problems: _Problems) -> None:
    """≥ 10,000 raw-byte requests (NUL, every C0 control, DEL, C1, encoded lone surrogates, non-ASCII digits,
    10 kB values…) in the path, query, form, ``Authorization``, ``Last-Event-ID`` and cookies of every route
    (each atom in every third place of a route, rotating across routes: ``hostile.attacks``):
    refused input gets the gate's 400 (415 for multipart) and writes nothing at all; odd but valid input never
    gets a 5xx and writes only what the same request with ordinary input writes; no traceback anywhere."""
    world = build_world(app, live_url)
    refused, odd = battery(app, world)  # odd: what the gate passes on to the views
    assert len(refused) + len(odd) >= 10_000, (len(refused), len(odd))
    client = RawClient(urlsplit(live_url).hostname or "127.0.0.1", urlsplit(live_url).port or 80)
    assert client.request("GET", "/oauth/jwks").status == 200  # the signing key exists before counting rows
    client.close()
    _console_client_exists(app)

    started = time.monotonic()
    before = _row_counts(app)
    failures = _send_all(live_url, refused)
    after_refused = _row_counts(app)
    failures += _send_all(live_url, [a for a in odd if not a.ends_world])
    alive = _world_is_intact(live_url, world)  # so the requests above did reach the code behind the lookups
    failures += _send_all(live_url, [a for a in odd if a.ends_world])
    after_odd = _row_counts(app)
    elapsed = time.monotonic() - started

    total = len(refused) + len(odd)
    routes = len({" ".join(a.label.split(" ")[:2]) for a in refused})
    grown = {t for t in after_odd if after_odd[t] != after_refused[t]}
    print(f"\nraw-byte battery: {total} requests ({len(refused)} refused by the gate, {len(odd)} passed on) "
          f"over {routes} routes in {elapsed:.1f} s = {total / elapsed:.0f} req/s; passed-on input wrote to "
          f"{sorted(grown)}")
    assert alive == ("QR page", "code"), alive
    assert not failures, f"{len(failures)} bad answers, e.g.:\n" + "\n".join(failures[:25])
    assert after_refused == before, {t: (before[t], after_refused[t]) for t in before if before[t] != after_refused[t]}
    assert grown <= ODD_INPUT_MAY_WRITE, {t: (after_refused[t], after_odd[t]) for t in grown}
    assert not problems.records, problems.records[:10]
