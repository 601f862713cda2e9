"""The WeChat access token, cached in the database and shared by every worker (SPEC §7.4).

One row per AppID holds the sealed token, its expiry and a short *lease*: the worker that wins an atomic
``UPDATE … WHERE lease expired`` fetches a new token while the others wait briefly and then read it. The token
is refreshed 5 minutes before expiry; a forced refresh (after WeChat rejected the token) happens at most once
per 30 s per account, because ``stable_token`` allows few of them a day.

A valid token is also kept per process (:mod:`idp_bridge.cache`, kind ``wechat_access_tokens``): every API
call needs it, and the row changes only when somebody refreshes it, which forgets the copies in every process.
A copy that WeChat rejects anyway (the token was reset from the WeChat console) costs one forced refresh, as
it would with the row.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from idp_bridge import cache
from idp_bridge.extensions import db
from idp_bridge.secretbox import open_sealed, seal
from idp_bridge.timeutil import utcnow
from idp_bridge.wechat.errors import WeChatUnavailable
from idp_bridge.wechat.models import ACCESS_TOKENS_KIND, WeChatAccessToken

log = logging.getLogger(__name__)
_PURPOSE = "wechat.access_token"


@dataclass(frozen=True)
class _Known:
    """A process's copy of a stored token (unsealed) and when it stops being usable."""

    token: str
    expires_at: datetime


class DatabaseTokenCache:
    """``TokenCache`` backed by the ``wechat_access_tokens`` table (works on SQLite and PostgreSQL)."""

    def __init__(self, secret_key: str, refresh_margin: int = 300, lease_seconds: int = 10,
                 wait_seconds: float = 6.0) -> None:
        self._secret_key = secret_key
        self._margin = timedelta(seconds=refresh_margin)
        self._lease = timedelta(seconds=lease_seconds)
        self._wait = wait_seconds

    def _row(self, app_id: str) -> WeChatAccessToken:
        row = db.session.get(WeChatAccessToken, app_id, populate_existing=True)
        if row is None:
            db.session.add(WeChatAccessToken(app_id=app_id))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
            row = db.session.get(WeChatAccessToken, app_id, populate_existing=True)
        assert row is not None
        return row

    def _usable(self, expires_at: datetime | None) -> bool:
        """Whether a token expiring at ``expires_at`` is still used rather than refreshed."""
        return expires_at is not None and expires_at - self._margin > utcnow()

    def _fresh(self, row: WeChatAccessToken) -> str | None:
        if row.token_sealed and self._usable(row.expires_at):
            return open_sealed(self._secret_key, _PURPOSE, row.token_sealed)
        return None

    def _known(self, app_id: str) -> _Known | None:
        row = db.session.execute(select(WeChatAccessToken.token_sealed, WeChatAccessToken.expires_at)
                                 .where(WeChatAccessToken.app_id == app_id)).first()
        if row is None or not row.token_sealed or row.expires_at is None:
            return None
        return _Known(open_sealed(self._secret_key, _PURPOSE, row.token_sealed), row.expires_at)

    def get(self, app_id: str, fetch: Callable[[bool], tuple[str, int]], force_refresh: bool = False) -> str:
        if not force_refresh:
            known = cache.cached(ACCESS_TOKENS_KIND, app_id, lambda: self._known(app_id))
            if known is not None and self._usable(known.expires_at):
                return known.token
        deadline = time.monotonic() + self._wait
        seen_refresh = self._row(app_id).refreshed_at if force_refresh else None
        while True:
            row = self._row(app_id)
            token = self._fresh(row)
            recently = row.refreshed_at is not None and row.refreshed_at > utcnow() - timedelta(seconds=30)
            if token and (not force_refresh or recently or row.refreshed_at != seen_refresh):
                return token
            owner = secrets.token_hex(8)
            if self._acquire(app_id, owner):
                try:
                    row = self._row(app_id)
                    if not force_refresh and (token := self._fresh(row)):
                        return token
                    return self._refresh(app_id, owner, fetch, force_refresh)
                finally:
                    self._release(app_id, owner)
            if time.monotonic() > deadline:
                raise WeChatUnavailable(None, "timed out waiting for another worker to refresh the access token")
            time.sleep(0.05)

    def _acquire(self, app_id: str, owner: str) -> bool:
        now = utcnow()
        result = db.session.execute(
            update(WeChatAccessToken)
            .where(WeChatAccessToken.app_id == app_id,
                   or_(WeChatAccessToken.lease_until.is_(None), WeChatAccessToken.lease_until < now))
            .values(lease_owner=owner, lease_until=now + self._lease)
        )
        db.session.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _refresh(self, app_id: str, owner: str, fetch: Callable[[bool], tuple[str, int]], force: bool) -> str:
        token, expires_in = fetch(force)
        now = utcnow()
        db.session.execute(
            update(WeChatAccessToken).where(WeChatAccessToken.app_id == app_id)
            .values(token_sealed=seal(self._secret_key, _PURPOSE, token),
                    expires_at=now + timedelta(seconds=expires_in), refreshed_at=now)
        )
        db.session.commit()
        log.info("refreshed the WeChat access token of %s (expires in %ss)", app_id, expires_in)
        return token

    def _release(self, app_id: str, owner: str) -> None:
        db.session.rollback()
        db.session.execute(update(WeChatAccessToken)
                           .where(WeChatAccessToken.app_id == app_id, WeChatAccessToken.lease_owner == owner)
                           .values(lease_owner=None, lease_until=None))
        db.session.commit()
