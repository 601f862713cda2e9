"""Retention purge (SPEC §15) on both databases: expired rows go, live rows stay — including rows that look
expired but are still needed (a used code whose tokens exist, a rotated refresh token within its lifetime, a
login session whose pending authorization is live, a day counter in today's window)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from idp_bridge import audit, ratelimit, retention
from idp_bridge.accounts import admin
from idp_bridge.accounts.models import BindingCode, User
from idp_bridge.extensions import db
from idp_bridge.login.models import LoginSession
from idp_bridge.oidc.models import AuthorizationCode, PendingAuthorization, SsoSession, Token
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat import connections
from idp_bridge.wechat.models import ProcessedEvent, PushSignature

HOUR = timedelta(hours=1)


def _token() -> str:
    return secrets.token_hex(16)


class World:
    """Rows named by what they are; ``live`` must survive a purge, ``dead`` must not."""

    def __init__(self, app: Flask) -> None:
        self.now = utcnow()
        self.live: dict[str, list[Any]] = {}
        self.dead: dict[str, list[Any]] = {}
        self.user = User(name="Ada")
        db.session.add(self.user)
        db.session.commit()
        self.connection = connections.create_connection(
            app.config["SECRET_KEY"], identifier="acme", display_name="ACME", app_id="wx0123456789abcdef",
            app_secret="0123456789abcdef0123456789abcdef", token="Token123", encryption="plaintext")

    def keep(self, model: Any, row: Any) -> Any:
        db.session.add(row)
        db.session.flush()
        self.live.setdefault(model.__tablename__, []).append(row.id if hasattr(row, "id") else row.key)
        return row

    def drop(self, model: Any, row: Any) -> Any:
        db.session.add(row)
        db.session.flush()
        self.dead.setdefault(model.__tablename__, []).append(row.id if hasattr(row, "id") else row.key)
        return row

    def pending(self, expires_at: datetime) -> PendingAuthorization:
        return PendingAuthorization(id=_token(), browser_digest="d" * 64, client_id="c", params={},
                                    expires_at=expires_at)

    def login(self, pending_id: str, expires_at: datetime, state: str = "waiting") -> LoginSession:
        return LoginSession(id=_token(), pending_id=pending_id, connection_id=self.connection.id, scene=_token(),
                            ticket="t", qr_url="u", expires_at=expires_at, state=state)

    def code(self, expires_at: datetime, used: bool = False) -> AuthorizationCode:
        return AuthorizationCode(code_digest=_token(), client_id="c", user_id=self.user.id, redirect_uri="https://x/",
                                 auth_time=0, expires_at=expires_at, used_at=expires_at if used else None)

    def token(self, access: datetime, refresh: datetime | None, code_id: int | None = None,
              rotated: bool = False, revoked: bool = False) -> Token:
        return Token(client_id="c", user_id=self.user.id, access_token_digest=_token(),
                     refresh_token_digest=_token() if refresh else None, family_id=_token(), code_id=code_id,
                     auth_time=0, access_expires_at=access, refresh_expires_at=refresh,
                     rotated_at=self.now - HOUR if rotated else None, revoked_at=self.now - HOUR if revoked else None)

    def sso(self, expires_at: datetime, revoked: bool = False) -> SsoSession:
        return SsoSession(sid=_token(), cookie_digest=_token(), user_id=self.user.id, auth_time=0,
                          expires_at=expires_at, revoked_at=self.now if revoked else None)


def _build(app: Flask) -> World:
    w = World(app)
    now, soon, old = w.now, w.now + timedelta(minutes=2), w.now - 2 * HOUR
    just_expired = now - timedelta(seconds=30)  # inside the grace period: another host's clock may disagree

    live_pending = w.keep(PendingAuthorization, w.pending(soon))
    w.keep(PendingAuthorization, w.pending(just_expired))
    for _ in range(5):
        w.drop(PendingAuthorization, w.pending(old))

    w.keep(LoginSession, w.login(live_pending.id, soon))  # waiting for a scan
    w.keep(LoginSession, w.login(live_pending.id, old, "succeeded"))  # QR expired, page still finishing
    w.drop(LoginSession, w.login("gone", old, "succeeded"))
    w.drop(LoginSession, w.login(w.dead["pending_authorizations"][0], old, "expired"))

    w.keep(AuthorizationCode, w.code(soon))
    unused_old = w.drop(AuthorizationCode, w.code(old))
    used_with_tokens = w.keep(AuthorizationCode, w.code(old, used=True))
    w.drop(AuthorizationCode, w.code(old, used=True))  # its tokens are gone already
    assert unused_old.id != used_with_tokens.id

    w.keep(Token, w.token(soon, None))
    w.keep(Token, w.token(old, now + 14 * 24 * HOUR, code_id=used_with_tokens.id))  # refresh still valid
    w.keep(Token, w.token(old, now + HOUR, rotated=True))  # reuse must still revoke the family
    w.keep(Token, w.token(old, now + HOUR, revoked=True))
    w.keep(Token, w.token(just_expired, None))
    w.drop(Token, w.token(old, None))
    w.drop(Token, w.token(old, old))
    w.drop(Token, w.token(old, old, rotated=True, revoked=True))

    w.keep(SsoSession, w.sso(soon))
    w.keep(SsoSession, w.sso(soon, revoked=True))
    w.drop(SsoSession, w.sso(old))
    w.drop(SsoSession, w.sso(old, revoked=True))

    w.keep(ProcessedEvent, ProcessedEvent(connection_id=w.connection.id, dedupe_key="new",
                                          received_at=now - timedelta(minutes=10)))
    w.drop(ProcessedEvent, ProcessedEvent(connection_id=w.connection.id, dedupe_key="old", received_at=old))
    w.drop(ProcessedEvent, ProcessedEvent(connection_id=w.connection.id, dedupe_key="old-done", received_at=old,
                                          lease_until=old, done_at=old))
    w.keep(ProcessedEvent, ProcessedEvent(connection_id=w.connection.id, dedupe_key="old-leased", received_at=old,
                                          lease_until=soon))  # a worker is handling it right now

    def signature(expires_at: datetime) -> PushSignature:
        return PushSignature(connection_id=w.connection.id, signature=_token(), body_digest="b" * 64,
                             expires_at=expires_at)

    w.keep(PushSignature, signature(soon))
    w.keep(PushSignature, signature(just_expired))
    w.drop(PushSignature, signature(old))

    w.keep(BindingCode, BindingCode(user_id=w.user.id, code_digest=_token(), expires_at=soon))
    w.drop(BindingCode, BindingCode(user_id=w.user.id, code_digest=_token(), expires_at=old))
    db.session.commit()

    _, invited = admin.invite(w.user)  # the real domain function: a live code
    w.live["binding_codes"].append(invited.id)

    epoch = int(now.timestamp())
    minute, day = epoch // 60, ratelimit.quota_day(epoch)
    for key, window, kept in (("ip:192.0.2.1", minute, True), ("ip:192.0.2.2", minute - 1, True),
                              ("ip:192.0.2.3", minute - 5, False), ("conn:1:min", minute - 2, False),
                              ("conn:1:day", day, True), ("conn:2:day", day - 1, True), ("conn:3:day", day - 3, False),
                              ("authfail:evil:day", minute - 5, False), ("ip:other:x:day", minute - 5, False)):
        assert ratelimit.hit(key, window, 10) == 1
        (w.live if kept else w.dead).setdefault("rate_counters", []).append(key)

    audit.record("test.recent", actor="t")
    audit.record("test.ancient", actor="t")
    ancient = db.session.scalar(db.select(audit.AuditEvent).where(audit.AuditEvent.action == "test.ancient"))
    recent = db.session.scalar(db.select(audit.AuditEvent).where(audit.AuditEvent.action == "test.recent"))
    assert ancient is not None and recent is not None
    ancient.at = now - timedelta(days=400)
    recent.at = now - timedelta(days=300)
    db.session.commit()
    w.live["audit_events"], w.dead["audit_events"] = [recent.id], [ancient.id]
    return w


def _present(table: str) -> set[Any]:
    model = next(m for r in retention.RULES if (m := r.model).__tablename__ == table)
    key = model.key if table == "rate_counters" else model.id
    return set(db.session.scalars(db.select(key)))


def test_purge_deletes_expired_rows_and_keeps_every_live_one(app: Flask) -> None:
    with app.app_context():
        world = _build(app)
        # small batches: the loop must go on until a short batch; the world's clock, so that a minute boundary
        # between building the rows and purging them cannot turn the previous-minute counter into a dead one
        counts = retention.purge(batch=2, now=world.now)
        for table, ids in world.live.items():
            assert set(ids) <= _present(table), f"a live {table} row was purged"
        for table, ids in world.dead.items():
            assert not set(ids) & _present(table), f"an expired {table} row survived"
        expected = {table: len(ids) for table, ids in world.dead.items()}
        # audit.record above also wrote nothing else dead; counts name every table, zero included
        assert {k: v for k, v in counts.items() if v} == expected
        assert set(counts) == {rule.name for rule in retention.RULES}
        assert retention.purge(now=world.now) == dict.fromkeys(counts, 0)  # idempotent


def test_purge_never_deletes_a_row_a_request_reads_as_live(app: Flask) -> None:
    """The conditions are judged from the readers' side: the live checks of the code paths still pass."""
    from idp_bridge.oidc import tokens

    with app.app_context():
        world = _build(app)
        retention.purge(now=world.now)
        code = db.session.get(AuthorizationCode, world.live["authorization_codes"][1])
        assert code is not None and code.used_at is not None  # a replay would still find it …
        tokens.revoke_from_code(code.id)  # … and revoke the tokens it produced (RFC 6749 §4.1.2)
        revoked = db.session.scalars(db.select(Token).where(Token.code_id == code.id))
        assert all(t.revoked_at is not None for t in revoked)


def test_purge_respects_the_audit_retention_setting(app_config: dict[str, Any]) -> None:
    from idp_bridge import create_app

    app = create_app({**app_config, "audit_retention_days": 30})
    with app.app_context():
        audit.record("test.month-old", actor="t")
        row = db.session.scalar(db.select(audit.AuditEvent))
        assert row is not None
        row.at = utcnow() - timedelta(days=31)
        db.session.commit()
        assert retention.purge()["audit_events"] == 1
        db.session.execute(db.delete(audit.AuditEvent))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_purge_stops_at_its_time_budget(app: Flask) -> None:
    with app.app_context():
        world = _build(app)
        assert sum(retention.purge(budget_seconds=0).values()) == 0
        assert set(world.dead["pending_authorizations"]) <= _present("pending_authorizations")


def test_purge_lock_lets_one_process_purge_at_a_time(app: Flask) -> None:
    """``serve`` runs a purge thread per worker; the lock (advisory on PostgreSQL, flock on SQLite) makes them
    take turns."""
    seen: list[bool] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with app.app_context(), retention.exclusive() as mine:
            seen.append(mine)
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    with app.app_context():
        with retention.exclusive() as mine:
            assert mine is False
        release.set()
        holder.join(10)
        with retention.exclusive() as mine:
            assert mine is True
        db.session.remove()
    assert seen == [True]


def test_background_thread_purges_and_skips_while_another_holds_the_lock(app: Flask) -> None:
    with app.app_context():
        world = _build(app)
    thread = retention.PurgeThread(app, interval=3600, first_delay=0)
    with app.app_context(), retention.exclusive() as mine:
        assert mine
        assert thread.run_once() is None  # another "worker" is purging
    counts = thread.run_once()
    assert counts is not None and counts["pending_authorizations"] == 5 and thread.runs == 1
    with app.app_context():
        assert set(world.live["pending_authorizations"]) <= _present("pending_authorizations")


def test_background_thread_runs_on_its_interval(app: Flask) -> None:
    with app.app_context():
        world = _build(app)
    thread = retention.start_background(app, interval=0.2, first_delay=0)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and thread.runs < 2:
            time.sleep(0.05)
        assert thread.runs >= 2
    finally:
        thread.stop()
        thread.join(10)
    with app.app_context():
        assert not set(world.dead["tokens"]) & _present("tokens")
        assert set(world.live["tokens"]) <= _present("tokens")
        db.session.remove()


@pytest.mark.parametrize("batch", [0, -1])
def test_purge_refuses_a_batch_below_one(app: Flask, batch: int) -> None:
    with app.app_context(), pytest.raises(ValueError):
        retention.purge(batch=batch)


def test_background_purge_outlives_an_unreachable_database(app_config: dict[str, Any]) -> None:
    """A database outage makes one run fail quietly (logged); the thread keeps its schedule."""
    from idp_bridge import create_app

    broken = create_app({**app_config, "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/none"})
    thread = retention.PurgeThread(broken, interval=3600, first_delay=0)
    assert thread.run_once() is None and thread.runs == 0
