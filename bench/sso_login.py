"""SSO login throughput (SPEC §16): authorize with an SSO cookie + token exchange, as logins per second, for
idp-bridge and for its peer node-oidc-provider 9 (in memory, one process, `npm ci` installs it) driven by the same
client code in the same run; the ratio between them; idp-bridge as deployed (on PostgreSQL its SSO lane answers
these requests on the workers' event loops) and with the lane off (the threaded Flask path); CPU per login split
into server workers, database and load generator; the serving stack's own floor (:mod:`bench.floor_app`: the same
gunicorn, workers and WSGI bridge with canned answers), which separates what the stack costs from what
idp-bridge's own work costs; and raw RS256 signatures per second measured in the same run (each login signs one
ID token).

Usage: python -m bench.sso_login [sqlite|postgresql]
"""

from __future__ import annotations

import http.client
import multiprocessing
import secrets
import subprocess
import sys
import time
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from bench.harness import (
    SECRET_KEY,
    Bridge,
    bridge,
    children_of,
    cpu_seconds,
    database,
    database_cpu_seconds,
    free_port,
    machine,
    summary,
)
from idp_bridge import create_app
from idp_bridge.accounts.models import User
from idp_bridge.extensions import db
from idp_bridge.oidc import sso
from idp_bridge.oidc.cookies import cookie_name

LOGINS, CONCURRENCY, WORKERS, ROUNDS = 800, 8, 2, 3
REDIRECT = "http://127.0.0.1:9/callback"


def rs256_per_second(seconds: float = 2.0) -> float:
    key = RSAKey.generate_key(2048, private=True)
    claims = {"iss": "x", "sub": "y", "aud": "z", "exp": 2_000_000_000, "iat": 1}
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        jwt.encode({"alg": "RS256"}, claims, key)
        count += 1
    return count / (time.perf_counter() - started)


def sso_cookie(b: Bridge, database_url: str) -> tuple[str, str]:
    """A signed-in browser's SSO cookie (name, value), made directly in the database."""
    app = create_app({"database_url": database_url, "instance_dir": b.env["IDP_BRIDGE_INSTANCE_DIR"],
                      "secret_key": SECRET_KEY, "issuer": b.url})
    with app.app_context():
        user = User(name="bench")
        db.session.add(user)
        db.session.commit()
        _, value = sso.start_session(user.id, None)
        name = cookie_name(sso.COOKIE)
        db.engine.dispose()
    return name, value


@dataclass(frozen=True)
class Target:
    """One provider under load: its endpoints, the application's credentials and a signed-in browser's cookies."""

    name: str
    authorize: str
    token: str
    client_id: str
    secret: str
    cookies: dict[str, str]
    pids: list[int]


class LoadClient:
    """The load generator's client: one keep-alive HTTP/1.1 connection, requests built by hand (the
    ``requests`` library cost ~2.5 ms of CPU per login, as much as the peer's whole server side)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        parts = urlsplit(target.authorize)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authorize_path, self.token_path = parts.path, urlsplit(target.token).path
        self.cookie = "; ".join(f"{k}={v}" for k, v in target.cookies.items())
        self.basic = "Basic " + b64encode(f"{target.client_id}:{target.secret}".encode()).decode()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def _send(self, method: str, path: str, body: str | None, headers: dict[str, str]
              ) -> http.client.HTTPResponse:
        for attempt in (1, 2):  # a server may close an idle keep-alive connection: reconnect once
            try:
                self.conn.request(method, path, body, headers)
                return self.conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def login(self) -> float:
        """One SSO login: authorize (answered from the SSO session) + token exchange; returns seconds."""
        verifier = secrets.token_urlsafe(48)
        started = time.perf_counter()
        query = urlencode({"response_type": "code", "client_id": self.target.client_id, "redirect_uri": REDIRECT,
                           "scope": "openid", "state": "s", "nonce": "n",
                           "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"})
        answer = self._send("GET", f"{self.authorize_path}?{query}", None, {"Cookie": self.cookie})
        answer.read()
        location = answer.getheader("Location") or ""
        code = parse_qs(urlsplit(location).query).get("code", [""])[0]
        body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                          "code_verifier": verifier})
        tokens = self._send("POST", self.token_path, body, {
            "Authorization": self.basic, "Content-Type": "application/x-www-form-urlencoded"})
        payload = tokens.read()
        if tokens.status != 200 or b'"id_token"' not in payload:
            raise RuntimeError(f"{self.target.name} login failed: {answer.status} {location[:80]} "
                               f"{tokens.status} {payload[:200]!r}")
        return time.perf_counter() - started


def login(target: Target) -> float:
    """One SSO login on a fresh connection (for callers that log in once in a while)."""
    return LoadClient(target).login()


def sso_login(b: Bridge, client_id: str, secret: str, cookie: tuple[str, str]) -> float:
    """One SSO login at the bridge (used by the capacity bench too)."""
    return login(Target("idp-bridge", f"{b.url}/oauth/authorize", f"{b.url}/oauth/token", client_id, secret,
                        {cookie[0]: cookie[1]}, []))


def _generator(target: Target, logins: int, start: Any, results: Any) -> None:
    """One load-generator process: warm up, wait for the others, run ``logins`` logins back to back."""
    client = LoadClient(target)
    for _ in range(5):
        client.login()
    start.wait()
    cpu0 = time.process_time()
    began = time.perf_counter()
    latencies = [client.login() for _ in range(logins)]
    results.put((latencies, time.process_time() - cpu0, began, time.perf_counter()))


@contextmanager
def peer() -> Iterator[Target]:
    """node-oidc-provider 9 on a free port, with one browser signed in through its interaction route."""
    port, secret = free_port(), secrets.token_urlsafe(32)
    script = Path(__file__).with_name("peer") / "oidc_provider_peer.mjs"
    process = subprocess.Popen(["node", str(script), str(port), REDIRECT, secret], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("ready"), "peer did not start"
        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        url = f"{base}/auth?" + urlencode({
            "response_type": "code", "client_id": "bench", "redirect_uri": REDIRECT, "scope": "openid",
            "code_challenge": create_s256_code_challenge("v" * 43), "code_challenge_method": "S256"})
        for _ in range(10):  # authorize → interaction (signs in) → resume → redirect_uri with a code
            answer = browser.get(url, allow_redirects=False, timeout=10)
            url = urljoin(url, answer.headers["Location"])
            if url.startswith(REDIRECT):
                break
        assert "code=" in url, url
        yield Target("node-oidc-provider", f"{base}/auth", f"{base}/token", "bench", secret,
                     {c.name: c.value or "" for c in browser.cookies}, [process.pid])
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def floor() -> Iterator[Target]:
    """The serving stack alone (:mod:`bench.floor_app`): canned answers, one RS256 signature per login."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.floor_app", str(port), str(WORKERS)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("ready"), "floor did not start"
        base = f"http://127.0.0.1:{port}"
        yield Target("serving-stack floor", f"{base}/oauth/authorize", f"{base}/oauth/token", "c", "s", {},
                     children_of(process.pid))
    finally:
        process.terminate()
        process.wait(30)


def measure(target: Target, kind: str) -> dict[str, float]:
    """LOGINS logins from CONCURRENCY load-generator processes (one keep-alive connection each); logins/s and
    CPU ms per login by party: server, database, load generator."""
    def database() -> float:
        return database_cpu_seconds() if kind == "postgresql" else 0.0

    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(CONCURRENCY + 1), context.Queue()
    per_process = LOGINS // CONCURRENCY
    processes = [context.Process(target=_generator, args=(target, per_process, start, results))
                 for _ in range(CONCURRENCY)]
    for process in processes:
        process.start()
    start.wait(timeout=120)
    server0, database0 = cpu_seconds(target.pids), database()
    outcomes = [results.get(timeout=600) for _ in processes]
    server1, database1 = cpu_seconds(target.pids), database()
    for process in processes:
        process.join(30)
        if process.exitcode != 0:
            raise RuntimeError(f"a load generator failed against {target.name}")
    latencies = [s for outcome in outcomes for s in outcome[0]]
    elapsed = max(o[3] for o in outcomes) - min(o[2] for o in outcomes)
    count = len(latencies)
    per_login = 1000 / count
    figures = {"logins_per_second": count / elapsed,
               "server_ms": (server1 - server0) * per_login,
               "database_ms": (database1 - database0) * per_login,
               "client_ms": sum(o[1] for o in outcomes) * per_login}
    print(f"{target.name}: {count} SSO logins in {elapsed:.2f} s = {figures['logins_per_second']:.0f} logins/s; "
          f"CPU per login: server {figures['server_ms']:.1f} ms, database {figures['database_ms']:.1f} ms, "
          f"load generator {figures['client_ms']:.1f} ms")
    print("  " + summary("login latency", latencies))
    return figures


def combined(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Several rounds as one run: logins/s over the total time, CPU per login averaged per login."""
    seconds = sum(LOGINS / r["logins_per_second"] for r in rounds)
    figures = {"logins_per_second": LOGINS * len(rounds) / seconds}
    for key in ("server_ms", "database_ms", "client_ms"):
        figures[key] = sum(r[key] for r in rounds) / len(rounds)
    return figures


def _bridge_target(b: Bridge, url: str, name: str) -> Target:
    client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
    cookie, value = sso_cookie(b, url)
    return Target(name, f"{b.url}/oauth/authorize", f"{b.url}/oauth/token", str(client["client_id"]),
                  str(client["client_secret"]), {cookie: value}, children_of(b.process.pid))


def main(kind: str = "postgresql") -> None:
    """The providers run side by side and are measured in alternating rounds, so a change in the machine's
    other load during the run weighs on all alike. idp-bridge is measured as deployed (on PostgreSQL the SSO
    lane answers these requests on the workers' event loops) and with the lane off (``IDP_BRIDGE_SSO_LANE=0``:
    the threaded Flask path every other request takes)."""
    ours: list[dict[str, float]] = []
    threaded: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    floors: list[dict[str, float]] = []
    with database(kind) as url, bridge(url, WORKERS) as b, database(kind) as url_off, \
            bridge(url_off, WORKERS, extra_env={"IDP_BRIDGE_SSO_LANE": "0"}) as b_off, \
            peer() as target, floor() as stack:
        bridge_target = _bridge_target(b, url, "idp-bridge")
        threaded_target = _bridge_target(b_off, url_off, "idp-bridge, lane off")
        for _ in range(ROUNDS):
            ours.append(measure(bridge_target, kind))
            theirs.append(measure(target, kind))
            threaded.append(measure(threaded_target, kind))
            floors.append(measure(stack, kind))
    signatures = rs256_per_second()
    mine, peers, bare, off = combined(ours), combined(theirs), combined(floors), combined(threaded)
    print(f"machine: {machine()}; database: {kind}; idp-bridge gunicorn workers: {WORKERS}; node-oidc-provider: "
          f"1 process, in memory; load generator: {CONCURRENCY} processes, one keep-alive connection each; "
          f"{ROUNDS} alternating rounds of {LOGINS} logins each")
    for who, figures in (("idp-bridge", mine), ("idp-bridge, SSO lane off (threaded path)", off),
                         ("node-oidc-provider", peers),
                         (f"serving-stack floor ({WORKERS} workers, canned answers)", bare)):
        print(f"{who}: {figures['logins_per_second']:.0f} logins/s; CPU per login: server "
              f"{figures['server_ms']:.1f} ms, database {figures['database_ms']:.1f} ms, load generator "
              f"{figures['client_ms']:.1f} ms")
    print(f"idp-bridge / node-oidc-provider = {mine['logins_per_second'] / peers['logins_per_second']:.2f} "
          f"(target ≥ 1.0, SPEC §16)")
    print(f"idp-bridge with the SSO lane off / node-oidc-provider = "
          f"{off['logins_per_second'] / peers['logins_per_second']:.2f}")
    print(f"serving-stack floor / node-oidc-provider = {bare['logins_per_second'] / peers['logins_per_second']:.2f} "
          f"(the best this stack reaches with no OIDC work); idp-bridge / floor = "
          f"{mine['logins_per_second'] / bare['logins_per_second']:.2f}; idp-bridge's own work: "
          f"{mine['server_ms'] - bare['server_ms']:.1f} ms of server CPU per login above the floor")
    print(f"raw RS256 signatures (one core, same run): {signatures:.0f}/s; idp-bridge logins/s ÷ signatures/s = "
          f"{mine['logins_per_second'] / signatures:.3f}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["postgresql"]))
