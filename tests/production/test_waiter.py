"""A waiting stream's wake-up (``streaming.waiters.Waiter``): never lost, never doubled, cancellable."""

from __future__ import annotations

import asyncio

from idp_bridge.streaming.waiters import Waiter
from tests.support.loops import run_on_a_loop_of_its_own


def test_a_wake_up_before_the_wait_is_kept_and_consumed_once() -> None:
    async def run() -> list[str]:
        waiter, seen = Waiter("s", -1), []
        waiter.wake()
        await asyncio.wait_for(waiter.wait(), 1)  # at once: woken since the last wait
        seen.append("first")
        try:
            await asyncio.wait_for(waiter.wait(), 0.05)  # consumed: this one waits
        except TimeoutError:
            seen.append("timed out")
        return seen

    assert run_on_a_loop_of_its_own(run()) == ["first", "timed out"]


def test_a_wake_up_ends_a_running_wait_and_one_during_a_timeout_is_not_lost() -> None:
    async def run() -> bool:
        loop = asyncio.get_running_loop()
        waiter = Waiter("s", -1)
        loop.call_later(0.02, waiter.wake)
        await asyncio.wait_for(waiter.wait(), 1)
        try:
            async with asyncio.timeout(0.01):
                await waiter.wait()
        except TimeoutError:
            waiter.wake()  # arrives right after the timeout: the next wait returns at once
        await asyncio.wait_for(waiter.wait(), 0.5)
        return waiter._future is None  # nothing left behind between waits

    assert run_on_a_loop_of_its_own(run())
