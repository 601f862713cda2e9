"""The simulated WeChat's memory: accounts, tokens, tickets, followers, injected failures, call counters.

It plays an external system, so in-process state guarded by a lock is right here (unlike the bridge).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SimAccount:
    """A service account as WeChat knows it, plus where it pushes events."""

    app_id: str
    app_secret: str
    token: str
    encryption: str
    callback_url: str
    encoding_aes_key: str | None = None
    original_id: str = "gh_simulated0001"
    display_name: str = "Simulated service account"
    open_platform: bool = True  # bound to Open Platform: user/info returns unionid


@dataclass
class Ticket:
    app_id: str
    scene: str
    expires_at: float


@dataclass
class Failure:
    errcode: int
    delay: float = 0.0


@dataclass
class SimState:
    """Everything the simulator remembers; every access goes through ``lock``."""

    accounts: dict[str, SimAccount] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    follows: set[tuple[str, str]] = field(default_factory=set)
    failures: dict[str, deque[Failure]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    people: dict[tuple[str, str], str] = field(default_factory=dict)  # (app_id, openid) → person
    oauth_codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # code → (app_id, openid, expiry)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def issue_token(self, app_id: str, force: bool, stable: bool) -> tuple[str, int]:
        with self.lock:
            current = self.tokens.get(app_id)
            now = time.time()
            if stable and current and current[1] > now + 300 and not force:
                return current[0], int(current[1] - now)
            token = "SIM_" + secrets.token_urlsafe(48)
            self.tokens[app_id] = (token, now + 7200)
            return token, 7200

    def token_valid(self, token: str) -> str | None:
        with self.lock:
            for app_id, (value, expires) in self.tokens.items():
                if secrets.compare_digest(value.encode(), token.encode()) and expires > time.time():
                    return app_id
        return None

    def take_failure(self, endpoint: str) -> Failure | None:
        with self.lock:
            queue = self.failures.get(endpoint)
            return queue.popleft() if queue else None


def openid_for(app_id: str, user: str) -> str:
    """Stable per (account, person), 28 characters like WeChat's."""
    raw = hashlib.sha256(f"{app_id}|{user}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(raw).decode()[:27]


def unionid_for(user: str) -> str:
    """Stable per person across accounts of one Open Platform."""
    raw = hashlib.sha256(f"union|{user}".encode()).digest()
    return "u" + base64.urlsafe_b64encode(raw).decode()[:27]
