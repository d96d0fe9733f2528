"""Sleeping until woken, in a way that a task cancellation always interrupts.

On Python 3.11, ``asyncio.wait_for(event.wait(), t)`` swallows a cancellation
that arrives just as the event is set, and a background loop built on it then
never stops. ``asyncio.wait`` has no such race.
"""

from __future__ import annotations

import asyncio


async def sleep_until_woken(wakeup: asyncio.Event, seconds: float) -> bool:
    """Wait until ``wakeup`` is set or ``seconds`` pass; True if it was set."""
    waiter = asyncio.ensure_future(wakeup.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return bool(done)
