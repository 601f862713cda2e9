"""QR-code creation limits (SPEC §7.2): WeChat allows 100,000 QR codes a day per account, so creation is
limited per client IP and per connection, with a daily budget that warns at 80 %.

Counted with ``ratelimit.hit`` (database fixed windows shared by every worker).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from idp_bridge.ratelimit import client_address_key, count, hit

log = logging.getLogger(__name__)

PER_CONNECTION_PER_MINUTE = 3000  # a live-stream QR campaign: thousands of visitors within minutes
DAILY_BUDGET = 90_000  # under WeChat's 100,000, leaving room for other systems using the same account
WARN_RATIO = 0.8


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None


def allow_qr(connection_id: int, identifier: str, client_ip: str, per_ip_per_minute: int) -> Verdict:
    """Check and count one QR creation for this browser's address (its /64 for IPv6) and this connection."""
    now = int(time.time())
    if hit(f"ip:{client_address_key(client_ip)}", now // 60, per_ip_per_minute) is None:
        return Verdict(False, "ip_rate")
    if hit(f"conn:{connection_id}:min", now // 60, PER_CONNECTION_PER_MINUTE) is None:
        return Verdict(False, "connection_rate")
    day = (now + 8 * 3600) // 86400  # WeChat's quota day is Beijing time
    used = hit(f"conn:{connection_id}:day", day, DAILY_BUDGET)
    if used is None:
        log.error("QR budget of connection %s exhausted for today (%d)", identifier, DAILY_BUDGET)
        return Verdict(False, "daily_budget")
    if used == int(DAILY_BUDGET * WARN_RATIO):
        log.warning("connection %s used 80%% of its daily QR budget (%d of %d)", identifier, used, DAILY_BUDGET)
    return Verdict(True)


def budget_used(connection_id: int) -> int:
    return count(f"conn:{connection_id}:day", (int(time.time()) + 8 * 3600) // 86400)
