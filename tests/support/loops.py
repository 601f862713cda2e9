"""Running a coroutine from a synchronous test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_a_loop_of_its_own(coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    """``asyncio.run`` in a thread of its own: a browser test in the same process may have left a loop running
    in this one (Playwright's sync API), and ``asyncio.run`` refuses to nest. Re-raises what the coroutine raised."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, asyncio.run(coroutine)))
        except BaseException as error:  # re-raised in the test's thread
            outcome.append((False, error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    assert outcome, "the coroutine did not finish"
    finished, value = outcome[0]
    if not finished:
        raise value
    return value  # type: ignore[no-any-return]
