"""The outbox relay: publishes what a service wrote to its outbox.

Events are written in the same transaction as the change they describe; this
relay publishes them in order with publisher confirms and deletes them only
after the broker confirmed them. It works in batches: the publishes of a
batch are in flight at once once the first is confirmed (they start in
``seq`` order, and the bus writes them to its channel in that order; the
first goes alone so that, with the broker down, nothing after it gets out
of order), and the confirmed ones are
deleted with one ``outbox_mark_published`` — one store write per batch
instead of one per event, which is what let the outbox fall behind the
service's own writes under load. If a publish fails, only the events before
it are deleted; the rest are published again later (with the broker down,
after a back-off), so nothing written is lost. A crash between publish and
delete publishes again too, and consumers drop the duplicate by event id.

``paused=True`` (``CASEMESH_OUTBOX_PAUSED``) publishes nothing, not even at
shutdown: events stay in the outbox until a relay that is not paused runs.

Back-pressure: a service whose requests keep its event loop busy can commit
events faster than the relay gets the loop to publish them (measured: 23 000
events behind after a 20 s burst). ``room()``, which services await before
a write request, holds the request while more than ``HIGH_WATER`` events
committed here wait, until the relay is back under ``LOW_WATER`` — but never
longer than ``MAX_HOLD``, and not at all while the relay cannot publish
(broker down, paused): writes must go on then, that is what the outbox is for.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from casemesh.bus.port import BusUnavailable, EventBus
from casemesh.store.port import DocumentStore, StoreError
from casemesh.wakeup import sleep_until_woken

log = logging.getLogger("casemesh.outbox")

MAX_BACKOFF = 5.0
HIGH_WATER = 1000
LOW_WATER = 200
MAX_HOLD = 1.0


class OutboxRelay:
    def __init__(
        self,
        store: DocumentStore,
        bus: EventBus,
        *,
        poll_interval: float = 0.5,
        batch_size: int = 100,
        paused: bool = False,
    ) -> None:
        self._store = store
        self.paused = paused
        self._bus = bus
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0
        # Events committed by this process and not yet published (as far as it knows).
        self.unpublished = 0
        self._failing = False
        self._roomy = asyncio.Event()
        self._roomy.set()
        listen = getattr(store, "add_commit_listener", None)
        if listen is not None:
            listen(self.committed)

    def committed(self, count: int) -> None:
        """``count`` events were committed: publish now instead of at the next poll."""
        self.unpublished += count
        if self.unpublished > HIGH_WATER:
            self._roomy.clear()
        self._wakeup.set()

    async def room(self) -> None:
        """Wait (up to MAX_HOLD) while the relay is far behind but able to publish."""
        if self._roomy.is_set() or self.paused or self._failing or self._task is None:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._roomy.wait(), MAX_HOLD)

    def _published(self, count: int) -> None:
        self.published += count
        self.unpublished = max(0, self.unpublished - count)
        if self.unpublished <= LOW_WATER:
            self._roomy.set()

    def start(self) -> None:
        if self._task is None:
            if self.paused:
                log.warning("outbox relay paused: events stay in the outbox, none is published")
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
        if self.paused:
            return
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
            # The first alone: with the broker down nothing else goes out, so a
            # failure cannot let later events overtake earlier ones.
            await self._bus.publish(records[0].envelope)
            results: list[BaseException | None] = [None]
            results += await self._bus.publish_many([r.envelope for r in records[1:]])
            confirmed = 0
            for result in results:
                if result is not None:
                    break
                confirmed += 1
            if confirmed:
                await self._store.outbox_mark_published([r.seq for r in records[:confirmed]])
                total += confirmed
                self._published(confirmed)
            if confirmed < len(records):
                failure = results[confirmed]
                assert failure is not None
                raise failure

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            self._wakeup.clear()
            if self.paused:
                await sleep_until_woken(self._wakeup, self._poll_interval)
                continue
            try:
                await self.drain()
                self._failing = False
                self.unpublished = 0  # drained: nothing of ours is waiting
                self._roomy.set()
                backoff, pause = 0.1, self._poll_interval
            except (BusUnavailable, StoreError) as exc:
                log.warning("outbox relay cannot publish yet: %s (retry in %.1fs)", exc, backoff)
                self._failing = True
                self._roomy.set()  # no holding writes for a relay that cannot publish
                pause, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
            await sleep_until_woken(self._wakeup, pause)
