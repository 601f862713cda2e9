"""Caps on concurrent status streams (SPEC §15): a stream holds a worker thread for up to 25 s, so without
caps a few dozen connections from one address starve ``/healthz``, the login page and the token endpoint.

The caps are per process because the resource they protect — the worker's threads — is per process:
at most 2 streams per login session, ``IDP_BRIDGE_STREAMS_PER_IP`` per client address (IPv6 counted by
/64, since one host holds a whole /64), and a process-wide total kept below the worker's thread count so
that some threads always remain for short requests. A refused page falls back to polling ``/status``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

PER_SESSION = 2
RESERVED_THREADS = 8  # threads a worker always keeps for short requests (healthz, token, pages)
DEFAULT_TOTAL = 256  # outside gunicorn (the development server has no thread limit)


@dataclass
class Slots:
    """Counts of open streams in this process, by login session, by address and in total."""

    total_limit: int = DEFAULT_TOTAL
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_session: Counter[str] = field(default_factory=Counter)
    _by_address: Counter[str] = field(default_factory=Counter)
    _total: int = 0

    def configure_for_threads(self, threads: int) -> None:
        """Keep the process-wide total below the worker's thread count (at least one stream)."""
        self.total_limit = max(1, min(threads - RESERVED_THREADS, threads * 3 // 4))

    def acquire(self, session_id: str, address: str, per_address: int) -> bool:
        with self._lock:
            if (self._total >= self.total_limit or self._by_session[session_id] >= PER_SESSION
                    or self._by_address[address] >= per_address):
                return False
            self._total += 1
            self._by_session[session_id] += 1
            self._by_address[address] += 1
            return True

    def release(self, session_id: str, address: str) -> None:
        with self._lock:
            self._total -= 1
            for counter, key in ((self._by_session, session_id), (self._by_address, address)):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]

    @property
    def open(self) -> int:
        return self._total


SLOTS = Slots()
