"""sleep_until_woken: woken, timed out, and always interruptible by cancellation."""

from __future__ import annotations

import asyncio

import pytest

from casemesh.wakeup import sleep_until_woken


async def test_returns_true_when_woken_and_false_after_the_timeout():
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await sleep_until_woken(event, 5) is True
    assert await sleep_until_woken(asyncio.Event(), 0.01) is False


async def test_a_cancel_that_races_the_wakeup_is_never_swallowed():
    # Python 3.11's wait_for loses a cancel that lands as the event is set.
    for _ in range(200):
        event = asyncio.Event()
        task = asyncio.create_task(sleep_until_woken(event, 5))
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
