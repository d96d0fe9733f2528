"""Stored timers (pause ends, overdue tasks) fired by a loop: they survive restarts."""

from __future__ import annotations

import asyncio
import logging

from casemesh.store.filters import Range, Sort
from casemesh.store.port import NotFound, StoreError
from casemesh.web.errors import ApiError
from services.cases.cases import actions, records
from services.cases.cases.snapshot import TIMERS
from services.cases.cases.workflow import Workflow

log = logging.getLogger("casemesh.cases.timers")
BATCH = 100


async def fire_due(flow: Workflow) -> int:
    """Fire every timer whose time has come; return how many fired."""
    due = await flow.store.find(
        TIMERS, Range("due_at", lte=records.now_text()), sort=[Sort("due_at")], limit=BATCH
    )
    for timer in due:
        try:
            await actions.fire_timer(flow, timer)
        except (NotFound, ApiError):
            continue  # another instance fired it, or the case moved on
    return len(due)


def timer_loop(flow: Workflow, interval: float):
    async def run() -> None:
        while True:
            try:
                while await fire_due(flow) == BATCH:
                    pass
            except StoreError as exc:
                log.warning("timers could not run: %s", exc)
            await asyncio.sleep(interval)

    return run
