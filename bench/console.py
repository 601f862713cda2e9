"""Console lists and overview under volume (SPEC §12): 100,000 users with identities and 1,000,000 audit rows,
then the user list, its searches and a deep keyset page, and the overview page, each requested 50 times over
HTTP through `idp-bridge serve` with a signed-in console session. Prints p50/p95 per page.

    .venv/bin/python -m bench.console [postgresql|sqlite]
"""

from __future__ import annotations

import secrets
import sys
import time

import requests
from sqlalchemy import create_engine, text

from bench.harness import bridge, database, machine, percentile
from idp_bridge.secretbox import digest

USERS, AUDIT_ROWS, ROUNDS = 100_000, 1_000_000, 50


def _fill(url: str, kind: str) -> str:
    """Bulk rows in SQL (not through the app: this measures reading them). Returns a console session token."""
    token = secrets.token_urlsafe(32)
    engine = create_engine(url)
    now = "now()" if kind == "postgresql" else "CURRENT_TIMESTAMP"
    with engine.begin() as db:
        connection_id = db.execute(text("SELECT id FROM connections")).scalar_one()
        if kind == "postgresql":
            db.execute(text(f"INSERT INTO users (sub, name, blocked, created_at, updated_at) SELECT 'sub' || g, "
                            f"'User ' || g, false, {now} - (g || ' minutes')::interval, {now} "
                            f"FROM generate_series(1, {USERS}) g"))
            db.execute(text("INSERT INTO identities (user_id, connection_id, openid, unionid, created_at) "
                            f"SELECT id, {connection_id}, 'openid_' || id, 'union_' || id, created_at FROM users"))
            db.execute(text("INSERT INTO audit_events (at, action, actor, target, outcome, details) SELECT "
                            f"{now} - ((g % 2592000) || ' seconds')::interval, CASE WHEN g % 5 = 0 THEN "
                            "'login.refused' ELSE 'login.success' END, 'user:' || g, 'bench', 'ok', '{}' "
                            f"FROM generate_series(1, {AUDIT_ROWS}) g"))
        else:
            db.execute(text(f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {USERS}) "
                            "INSERT INTO users (sub, name, blocked, created_at, updated_at) SELECT 'sub' || n, "
                            "'User ' || n, 0, datetime('now', '-' || n || ' minutes'), datetime('now') FROM g"))
            db.execute(text("INSERT INTO identities (user_id, connection_id, openid, unionid, created_at) "
                            f"SELECT id, {connection_id}, 'openid_' || id, 'union_' || id, created_at FROM users"))
            db.execute(text(f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {AUDIT_ROWS}) "
                            "INSERT INTO audit_events (at, action, actor, target, outcome, details) SELECT "
                            "datetime('now', '-' || (n % 2592000) || ' seconds'), CASE WHEN n % 5 = 0 THEN "
                            "'login.refused' ELSE 'login.success' END, 'user:' || n, 'bench', 'ok', '{}' FROM g"))
        admin_id = db.execute(text("INSERT INTO admins (sub, role, created_at) VALUES ('bench-admin', 'admin', "
                                   f"{now}) RETURNING id")).scalar_one()
        db.execute(text("INSERT INTO admin_sessions (digest, admin_id, auth_time, created_at, last_seen_at) "
                        f"VALUES (:d, :a, {now}, {now}, {now})"), {"d": digest(token), "a": admin_id})
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return token


def main(kind: str = "postgresql") -> None:
    with database(kind) as url, bridge(url, workers=2, threads=8) as b:
        started = time.monotonic()
        token = _fill(url, kind)
        print(f"machine: {machine()}; {kind}; filled {USERS:,} users + identities and {AUDIT_ROWS:,} audit rows "
              f"in {time.monotonic() - started:.0f} s")
        browser = requests.Session()
        browser.cookies.set("idpb_admin", token, path="/admin")
        pages = {"user list (first page)": "/admin/users",
                 "user list (deep keyset page)": f"/admin/users?before={USERS // 2}",
                 "search by openid": f"/admin/users?q=openid_{USERS // 3}",
                 "search by unionid": f"/admin/users?q=union_{USERS // 4}",
                 "search by sub": f"/admin/users?q=sub{USERS // 5}",
                 "search by name prefix": "/admin/users?q=User%2099999",
                 "search matching nobody (whole scan)": "/admin/users?q=nobody-here",
                 "audit log (first page)": "/admin/audit",
                 "overview (charts over 1M audit rows)": "/admin/overview"}
        for name, path in pages.items():
            assert browser.get(b.url + path, timeout=30).status_code == 200, path  # warm up, and signed in
            seconds = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                response = browser.get(b.url + path, timeout=30)
                seconds.append(time.perf_counter() - t0)
                assert response.status_code == 200
            ms = [s * 1000 for s in seconds]
            print(f"{name:<40} p50 {percentile(ms, 50):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  (n={ROUNDS})")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["postgresql"]))
