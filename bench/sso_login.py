"""SSO login throughput (SPEC §16): authorize with an SSO cookie + token exchange, as logins per second, for
idp-bridge and for its peer node-oidc-provider 9 (in memory, one process, `npm ci` installs it) driven by the same
client code in the same run; the ratio between them; CPU per login split into server workers, database and load
generator; and raw RS256 signatures per second measured in the same run (each login signs one ID token).

Usage: python -m bench.sso_login [sqlite|postgresql]
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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

LOGINS, CONCURRENCY, WORKERS = 400, 8, 2
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


def login(target: Target) -> float:
    """One SSO login: authorize (answered from the SSO session) + token exchange; returns seconds."""
    browser = requests.Session()
    for name, value in target.cookies.items():
        browser.cookies.set(name, value, domain="127.0.0.1", path="/")
    verifier = secrets.token_urlsafe(48)
    started = time.perf_counter()
    answer = browser.get(target.authorize, allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": target.client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(target.token, auth=(target.client_id, target.secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    if "id_token" not in tokens.json():
        raise RuntimeError(f"{target.name} login failed: {tokens.text}")
    return time.perf_counter() - started


def sso_login(b: Bridge, client_id: str, secret: str, cookie: tuple[str, str]) -> float:
    """One SSO login at the bridge (used by the capacity bench too)."""
    return login(Target("idp-bridge", f"{b.url}/oauth/authorize", f"{b.url}/oauth/token", client_id, secret,
                        {cookie[0]: cookie[1]}, []))


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


def measure(target: Target, kind: str) -> dict[str, float]:
    """Warm up, then LOGINS logins from CONCURRENCY client threads; logins/s and CPU ms per login by party."""
    for _ in range(20):
        login(target)
    def database() -> float:
        return database_cpu_seconds() if kind == "postgresql" else 0.0

    server0, database0, client0 = cpu_seconds(target.pids), database(), time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        latencies = list(pool.map(lambda _: login(target), range(LOGINS)))
    elapsed = time.perf_counter() - started
    per_login = 1000 / LOGINS
    figures = {"logins_per_second": LOGINS / elapsed,
               "server_ms": (cpu_seconds(target.pids) - server0) * per_login,
               "database_ms": (database() - database0) * per_login,
               "client_ms": (time.process_time() - client0) * per_login}
    print(f"{target.name}: {LOGINS} SSO logins in {elapsed:.2f} s = {figures['logins_per_second']:.0f} logins/s; "
          f"CPU per login: server {figures['server_ms']:.1f} ms, database {figures['database_ms']:.1f} ms, "
          f"load generator {figures['client_ms']:.1f} ms")
    print("  " + summary("login latency", latencies))
    return figures


def main(kind: str = "postgresql") -> None:
    with database(kind) as url, bridge(url, WORKERS) as b:
        client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
        name, value = sso_cookie(b, url)
        ours = measure(Target("idp-bridge", f"{b.url}/oauth/authorize", f"{b.url}/oauth/token",
                              str(client["client_id"]), str(client["client_secret"]), {name: value},
                              children_of(b.process.pid)), kind)
    with peer() as target:
        theirs = measure(target, kind)
    signatures = rs256_per_second()
    print(f"machine: {machine()}; database: {kind}; idp-bridge gunicorn workers: {WORKERS}; node-oidc-provider: "
          f"1 process, in memory; client threads: {CONCURRENCY}")
    print(f"idp-bridge / node-oidc-provider = {ours['logins_per_second'] / theirs['logins_per_second']:.2f} "
          f"(target ≥ 1.0, SPEC §16)")
    print(f"raw RS256 signatures (one core, same run): {signatures:.0f}/s; idp-bridge logins/s ÷ signatures/s = "
          f"{ours['logins_per_second'] / signatures:.3f}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["postgresql"]))
