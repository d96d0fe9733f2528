"""In-process event bus for embedded mode and tests.

Keeps the RabbitMQ adapter's semantics so code behaves the same in both modes:
- a named queue is created by the first ``subscribe`` and keeps every binding
  it was given; it keeps collecting events while no consumer runs;
- ``subscribe`` calls with the same queue name compete for its events;
- an event published while no queue is bound to its type is dropped;
- each subscription has at most ``prefetch`` handlers in flight;
- a failing handler is retried after the policy's delay, then dead-lettered.

Events are copied through JSON on publish, as they would be on the wire, so a
handler never shares (or mutates) the publisher's object.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from casemesh.bus.port import (
    BusStats,
    BusUnavailable,
    Deduplicator,
    EventBus,
    Handler,
    RetryPolicy,
    Subscription,
    topic_matches,
)
from casemesh.events import Envelope

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Queue:
    name: str
    patterns: set[str] = field(default_factory=set)
    # Items are (envelope, attempt number of the delivery about to happen).
    ready: asyncio.Queue[tuple[Envelope, int]] = field(default_factory=asyncio.Queue)

    def binds(self, routing_key: str) -> bool:
        return any(topic_matches(p, routing_key) for p in self.patterns)


class _MemorySubscription(Subscription):
    def __init__(
        self,
        bus: InProcessBus,
        queue: _Queue,
        handler: Handler,
        prefetch: int,
        retry: RetryPolicy,
        dedup: Deduplicator | None,
    ) -> None:
        self._bus = bus
        self._queue = queue
        self._handler = handler
        self._slots = asyncio.Semaphore(prefetch)
        self._retry = retry
        self._dedup = dedup
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._pump = asyncio.create_task(self._run(), name=f"bus-consume:{queue.name}")

    async def _run(self) -> None:
        while True:
            # Take a slot before taking an event, so an event is never held
            # by a subscription that cannot start it (others may compete).
            await self._slots.acquire()
            try:
                envelope, attempt = await self._queue.ready.get()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            task = asyncio.create_task(self._deliver(envelope, attempt))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, envelope: Envelope, attempt: int) -> None:
        stats = self._bus.stats
        name = self._queue.name
        try:
            # As on RabbitMQ, a failing dedup store counts as a failed attempt.
            if self._dedup is not None and await self._dedup.seen(name, envelope.id):
                stats.duplicates += 1
                return
            await self._handler(envelope)
            stats.consumed += 1
            if self._dedup is not None:
                await self._dedup.remember(name, envelope.id)
        except Exception as exc:
            self._bus._failed(self._queue, envelope, attempt, self._retry, exc)
        finally:
            self._slots.release()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._bus._subscriptions.discard(self)


class InProcessBus(EventBus):
    """The embedded bus: no broker, everything lives in this event loop.

    No ``connect()`` is needed; ``close()`` stops every subscription and drops
    pending retries. Queued events do not survive the process.
    """

    def __init__(self) -> None:
        self.stats = BusStats()
        self._queues: dict[str, _Queue] = {}
        self._dead: dict[str, list[Envelope]] = {}
        self._subscriptions: set[_MemorySubscription] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False

    async def publish(self, envelope: Envelope) -> None:
        if self._closed:
            raise BusUnavailable("in-process bus is closed")
        raw = envelope.to_json_bytes()
        for queue in self._queues.values():
            if queue.binds(envelope.routing_key):
                queue.ready.put_nowait((Envelope.from_json_bytes(raw), 1))
        self.stats.published += 1
        self.stats.by_type[envelope.type] = self.stats.by_type.get(envelope.type, 0) + 1

    async def subscribe(
        self,
        queue: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 16,
        retry: RetryPolicy = RetryPolicy(),
        dedup: Deduplicator | None = None,
    ) -> Subscription:
        if self._closed:
            raise BusUnavailable("in-process bus is closed")
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        q = self._queues.setdefault(queue, _Queue(queue))
        q.patterns.update(patterns)
        sub = _MemorySubscription(self, q, handler, prefetch, retry, dedup)
        self._subscriptions.add(sub)
        return sub

    def _failed(
        self,
        queue: _Queue,
        envelope: Envelope,
        attempt: int,
        retry: RetryPolicy,
        exc: Exception,
    ) -> None:
        if attempt >= retry.max_attempts:
            log.warning(
                "bus %s: %s dead-lettered after %d attempts: %r",
                queue.name,
                envelope.id,
                attempt,
                exc,
            )
            self._dead.setdefault(f"{queue.name}.dead", []).append(envelope)
            self.stats.dead_lettered += 1
            return
        log.info("bus %s: %s failed (attempt %d): %r", queue.name, envelope.id, attempt, exc)
        self.stats.retried += 1
        # Like the broker's retry queue: the event waits outside the consumer's
        # prefetch window, then goes back to the end of the main queue.
        timer: asyncio.TimerHandle | None = None

        def requeue() -> None:
            self._timers.discard(timer)  # type: ignore[arg-type]
            queue.ready.put_nowait((envelope, attempt + 1))

        timer = asyncio.get_running_loop().call_later(retry.delay_for(attempt), requeue)
        self._timers.add(timer)

    async def dead_letters(self, queue: str, limit: int = 100) -> list[Envelope]:
        return list(self._dead.get(f"{queue}.dead", [])[:limit])

    async def ping(self) -> None:
        if self._closed:
            raise BusUnavailable("in-process bus is closed")

    def busy(self) -> bool:
        """An event is queued or in a handler (retries waiting out their delay aside)."""
        queued = any(not q.ready.empty() for q in self._queues.values())
        return queued or any(sub._in_flight for sub in self._subscriptions)

    async def settle(self, within: float, quiet: float = 0.3) -> bool:
        """Wait until the bus has been idle for ``quiet`` seconds; False if not ``within`` s.

        Queued events do not survive the process: a graceful shutdown waits here
        before it stops the consumers. ``quiet`` covers a handler's own events,
        which its service's outbox relay publishes a moment after it commits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        idle_since = loop.time()
        while True:
            now = loop.time()
            if self.busy():
                idle_since = now
            elif now - idle_since >= quiet:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for sub in list(self._subscriptions):
            await sub.stop()
