"""Stop guessing of client secrets without costing the successful request a round trip.

After ``LIMIT`` failed client authentications within a minute from one address, that client id is locked for
that address for the rest of the minute (keyed by address too, so an attacker cannot lock a legitimate
application out; RFC 6749 §10.10 and RFC 6819 §5.1.4.2.3 ask for protection against credential guessing).

Failures are counted in Redis when configured (``INCR`` with an expiry), else in the shared database counters
(``ratelimit.hit``). A lock is a row in ``auth_lockouts``; its insertion moves the cached kind's version, so
every worker's per-process copy of the active locks (``idp_bridge.cache``) learns it at once, and a request
whose credentials are right reads nothing at all.
"""

from __future__ import annotations

import logging
import time

from werkzeug.datastructures import Authorization

from idp_bridge import cache, ratelimit, redis_clients
from idp_bridge.config import current_settings
from idp_bridge.extensions import db
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.oidc.models import LOCKOUTS_KIND, AuthLockout
from idp_bridge.upsert import conflict_insert

log = logging.getLogger(__name__)
LIMIT = 10
WINDOW_SECONDS = 60


def _active() -> dict[str, int]:
    now = int(time.time())
    return dict(db.session.execute(db.select(AuthLockout.key, AuthLockout.until)
                                   .where(AuthLockout.until > now)).all())


def claimed_key(authorization: Authorization | None, form_client_id: str, address: str | None) -> str:
    """The lock-out key of a token/revoke/introspect request: the client it claims to be (Basic header, else the
    form) at its address; empty when it claims none that could be ours."""
    claimed = authorization.username if authorization is not None and authorization.username else form_client_id
    client_id = lookup_key(claimed)  # the key is stored: never NUL or controls (SPEC §15)
    return f"{client_id}@{address}" if client_id else ""


def malformed_authorization(header: str | None) -> bool:
    """An ``Authorization`` header without scheme and credentials (Authlib crashes on one)."""
    return header is not None and len(header.split(None, 1)) != 2


def locked(key: str) -> bool:
    """Whether ``key`` (client id @ address) is locked now."""
    locks = cache.cached(LOCKOUTS_KIND, "active", _active) or {}
    return locks.get(key[:160], 0) > time.time()


def _count_failure(key: str, window: int) -> int | None:
    redis_url = current_settings().redis_url
    if redis_url:
        try:
            client = redis_clients.client(redis_url)
            name = f"idpb:authfail:{window}:{key}"
            pipe = client.pipeline()
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW_SECONDS)
            count, _ = pipe.execute()
            return int(count)
        except Exception as exc:  # the database counter is always there
            log.warning("Redis unavailable for the client lock-out (%s); counting in the database",
                        type(exc).__name__)
    return ratelimit.hit(f"authfail:{key}", window, 1_000_000)


def record_failure(key: str) -> None:
    """Count one failed client authentication; the ``LIMIT``-th in a window locks the key until its end."""
    window = int(time.time()) // WINDOW_SECONDS
    count = _count_failure(key, window)
    if count is None or count < LIMIT:
        return
    until = (window + 1) * WINDOW_SECONDS
    db.session.execute(db.delete(AuthLockout).where(AuthLockout.until <= int(time.time())))
    db.session.execute(conflict_insert(AuthLockout).values(key=key[:160], until=until)
                       .on_conflict_do_update(index_elements=[AuthLockout.key], set_={"until": until}))
    db.session.commit()
