"""The outbox relay: publishes what a service wrote to its outbox.

Events are written in the same transaction as the change they describe; this
relay publishes them in order with publisher confirms and deletes each one
only after the broker confirmed it. If the broker is down it backs off and
tries again, so nothing written is lost; a crash between publish and delete
publishes again, and consumers drop the duplicate by event id.
"""

from __future__ import annotations

import asyncio
import logging

from casemesh.bus.port import BusUnavailable, EventBus
from casemesh.store.port import DocumentStore, StoreError
from casemesh.wakeup import sleep_until_woken

log = logging.getLogger("casemesh.outbox")

MAX_BACKOFF = 5.0


class OutboxRelay:
    def __init__(
        self,
        store: DocumentStore,
        bus: EventBus,
        *,
        poll_interval: float = 0.5,
        batch_size: int = 100,
    ) -> None:
        self._store = store
        self._bus = bus
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0
        listen = getattr(store, "add_commit_listener", None)
        if listen is not None:
            listen(self.wake)

    def wake(self) -> None:
        """Something was written: publish now instead of at the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop after a last drain, so events written before shutdown leave now."""
        if self._task is None:
            return
        # A flag, not task.cancel(): on Python 3.11 a cancel that races with the
        # wake-up event can be swallowed by wait_for, leaving the loop running.
        self._stopping = True
        self._wakeup.set()
        await self._task
        self._task = None
        try:
            await asyncio.wait_for(self.drain(), timeout=5)
        except (TimeoutError, BusUnavailable, StoreError):
            log.warning("outbox not fully drained at shutdown; it will publish after restart")

    async def drain(self) -> int:
        """Publish everything pending now; return how many were published."""
        total = 0
        while True:
            records = await self._store.outbox_pending(self._batch_size)
            if not records:
                return total
            for record in records:
                await self._bus.publish(record.envelope)
                await self._store.outbox_mark_published([record.seq])
                total += 1
                self.published += 1

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self.drain()
                backoff, pause = 0.1, self._poll_interval
            except (BusUnavailable, StoreError) as exc:
                log.warning("outbox relay cannot publish yet: %s (retry in %.1fs)", exc, backoff)
                pause, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
            await sleep_until_woken(self._wakeup, pause)
