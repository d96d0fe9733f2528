"""A service's runtime: its adapters, outbox relay and event consumer, and their lifecycle.

Start-up never crashes on an unreachable database or broker: it retries with
back-off while ``/readyz`` says what is missing, and business routes answer
503 until everything is connected. Shutdown stops consuming first, lets
in-flight work finish, drains the outbox, then closes clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from casemesh.bus.dedup import StoreDeduplicator
from casemesh.bus.group_commit import GroupCommit
from casemesh.bus.outbox import OutboxRelay
from casemesh.bus.port import EventBus, Handler, RetryPolicy, Subscription, topic_matches
from casemesh.events import Envelope, new_envelope
from casemesh.mail.port import Mailer
from casemesh.objects.port import ObjectStore
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore, Index, Transaction
from casemesh.web.context import current_request_id, request_id_var

log = logging.getLogger("casemesh.runtime")
T = TypeVar("T")

Check = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 3.0
MAX_START_BACKOFF = 10.0
LOOP_STOP_TIMEOUT = 15.0


@dataclass
class Runtime:
    name: str
    settings: Settings
    store: DocumentStore
    bus: EventBus
    objects: ObjectStore | None = None
    mailer: Mailer | None = None
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    indexes: Mapping[str, Sequence[Index]] = field(default_factory=dict)
    startup: Sequence[Callable[[], Awaitable[None]]] = ()
    # Long-running loops (timers, pollers) started once connected, cancelled first at stop.
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    owns_bus: bool = True
    ready: bool = False
    not_ready_reason: str = "starting"
    relay: OutboxRelay | None = None
    _subscription: Subscription | None = None
    _starter: asyncio.Task[None] | None = None
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    # The consumers' writes (handlers' projections, de-duplication records),
    # committed together when several events are handled at once.
    consumer_writes: GroupCommit = field(init=False)
    dedup: StoreDeduplicator = field(init=False)

    def __post_init__(self) -> None:
        self.consumer_writes = GroupCommit(self.store)
        self.dedup = StoreDeduplicator(self.store, self.consumer_writes)

    @property
    def queue(self) -> str:
        return f"{self.settings.amqp_queue_prefix}{self.name}"

    def event(self, data: BaseModel, *, workspace: str, subject: str = "") -> Envelope:
        """Wrap event data, correlated with the request (or event) being handled."""
        return new_envelope(
            data,
            source=self.name,
            workspace=workspace,
            subject=subject,
            correlation_id=current_request_id(),
        )

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self.relay = OutboxRelay(
            self.store,
            self.bus,
            poll_interval=self.settings.outbox_poll_interval,
            paused=self.settings.outbox_paused,
        )
        self._starter = asyncio.create_task(self._connect_with_backoff(), name=f"{self.name}-start")

    async def _connect_with_backoff(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._connect()
                self.ready, self.not_ready_reason = True, ""
                log.info("%s is ready", self.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: report it, wait, try again
                self.not_ready_reason = f"{type(exc).__name__}: {exc}"
                log.warning("%s not ready (%s); retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_START_BACKOFF)

    async def _connect(self) -> None:
        await self.store.ping()
        for collection, indexes in self.indexes.items():
            await self.store.ensure_indexes(collection, indexes)
        connect = getattr(self.bus, "connect", None)
        if connect is not None:
            await connect()
        await self.bus.ping()
        if self.objects is not None:
            ensure = getattr(self.objects, "ensure_bucket", None)
            await (ensure() if ensure is not None else self.objects.ping())
        for hook in self.startup:
            await hook()
        assert self.relay is not None
        self.relay.start()
        for loop in self.background:
            self._loops.append(asyncio.create_task(loop(), name=f"{self.name}-{loop.__name__}"))
        if self.handlers and self._subscription is None:
            self._subscription = await self.bus.subscribe(
                self.queue,
                list(self.handlers),
                self._dispatch,
                prefetch=self.settings.bus_prefetch,
                retry=RetryPolicy(
                    max_attempts=self.settings.bus_max_attempts,
                    retry_delays=tuple(self.settings.bus_retry_delays),
                ),
                dedup=self.dedup,
            )

    async def stop(self) -> None:
        self.ready, self.not_ready_reason = False, "shutting down"
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        for task in self._loops:
            task.cancel()
        if self._loops:
            # Bounded: a loop that swallowed its cancellation must not hang shutdown.
            _, stuck = await asyncio.wait(self._loops, timeout=LOOP_STOP_TIMEOUT)
            for task in stuck:
                log.error("%s: background loop %s ignored cancellation", self.name, task.get_name())
        self._loops.clear()
        if self._subscription is not None:
            await self._subscription.stop()
            self._subscription = None
        if self.relay is not None:
            await self.relay.stop()
        if self.owns_bus:
            await self.bus.close()
        for client in (self.objects, self.mailer, self.store):
            if client is not None:
                await client.close()

    # -- events ----------------------------------------------------------------

    async def handled_with(
        self, envelope: Envelope, write: Callable[[Transaction], Awaitable[T]]
    ) -> T:
        """Commit a handler's ``write`` and the event's de-duplication record together.

        Through the consumers' group commit: one transaction for the writes of
        the events being handled at the same moment, and none more for their
        de-duplication records.
        """

        async def both(tx: Transaction) -> T:
            result = await write(tx)
            await self.dedup.write(tx, self.queue, envelope.id)
            return result

        result = await self.consumer_writes.run(both)
        self.dedup.written(self.queue, envelope.id)
        return result

    async def _dispatch(self, envelope: Envelope) -> None:
        """Run the handler whose pattern matches, under the event's correlation id."""
        for pattern, handler in self.handlers.items():
            if topic_matches(pattern, envelope.type):
                token = request_id_var.set(envelope.correlation_id or envelope.id)
                try:
                    await handler(envelope)
                finally:
                    request_id_var.reset(token)
                return

    # -- readiness -------------------------------------------------------------

    def checks(self) -> dict[str, Check]:
        checks: dict[str, Check] = {"database": self.store.ping, "bus": self.bus.ping}
        if self.objects is not None:
            checks["object_store"] = self.objects.ping
        if self.mailer is not None:
            checks["smtp"] = self.mailer.ping
        return checks

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        results = await asyncio.gather(*(_run_check(check) for check in self.checks().values()))
        report = dict(zip(self.checks(), results, strict=True))
        if not self.ready:
            report["startup"] = self.not_ready_reason
        ok = self.ready and all(v == "ok" for v in report.values())
        return ok, report


async def _run_check(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT)
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT:.0f}s"
    except Exception as exc:  # report any failure as text
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "ok"
