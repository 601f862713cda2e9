"""Database rate counters: exact under concurrency (no lost hits, no false refusals), windows roll over."""

from __future__ import annotations

import threading

from flask import Flask

from idp_bridge import ratelimit


def test_concurrent_first_hits_are_all_counted_and_the_limit_holds(app: Flask) -> None:
    allowed: list[int | None] = []

    def worker() -> None:
        with app.app_context():
            for _ in range(10):
                allowed.append(ratelimit.hit("burst", 7, 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for a in allowed if a is not None) == 60 and allowed.count(None) == 20
    with app.app_context():
        assert ratelimit.count("burst", 7) == 60
        assert ratelimit.hit("burst", 8, 60) == 1  # a new window starts from one
        assert ratelimit.count("burst", 7) == 0
