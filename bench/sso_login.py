"""SSO login throughput (SPEC §16): authorize with an SSO cookie + token exchange, as logins per second, and
its ratio to raw RS256 signatures per second measured in the same run (each login signs one ID token).

Usage: python -m bench.sso_login [sqlite|postgresql]
"""

from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from bench.harness import SECRET_KEY, Bridge, bridge, database, machine, summary
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


def sso_login(b: Bridge, client_id: str, secret: str, cookie: tuple[str, str]) -> float:
    """One SSO login: authorize (answered from the SSO session) + token exchange; returns seconds."""
    browser = requests.Session()
    browser.cookies.set(cookie[0], cookie[1], domain="127.0.0.1", path="/")
    verifier = secrets.token_urlsafe(48)
    started = time.perf_counter()
    answer = browser.get(f"{b.url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{b.url}/oauth/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    if "id_token" not in tokens.json():
        raise RuntimeError(f"login failed: {tokens.text}")
    return time.perf_counter() - started


def main(kind: str = "postgresql") -> None:
    with database(kind) as url, bridge(url, WORKERS) as b:
        client = b.cli("client", "create", "--name", "Bench", "--redirect-uri", REDIRECT)
        client_id, secret = str(client["client_id"]), str(client["client_secret"])
        cookie = sso_cookie(b, url)
        for _ in range(20):  # warm-up
            sso_login(b, client_id, secret, cookie)
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            latencies = list(pool.map(lambda _: sso_login(b, client_id, secret, cookie), range(LOGINS)))
        elapsed = time.perf_counter() - started
        logins = LOGINS / elapsed
        signatures = rs256_per_second()
        print(f"machine: {machine()}; database: {kind}; gunicorn workers: {WORKERS}; client threads: {CONCURRENCY}")
        print(f"SSO logins (authorize + token): {LOGINS} in {elapsed:.2f} s = {logins:.0f} logins/s")
        print(summary("login latency", latencies))
        print(f"raw RS256 signatures (one core, same run): {signatures:.0f}/s; "
              f"logins/s ÷ signatures/s = {logins / signatures:.3f}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["postgresql"]))
