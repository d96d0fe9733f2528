"""The event-bus port.

Semantics both adapters keep:
- ``publish`` returns once the broker has confirmed the event; ``publish_many``
  has several in flight, in order, and says which were confirmed.
- ``subscribe`` binds a durable queue (one per consuming service) to routing-key
  patterns (``*`` one word, ``#`` zero or more words), delivers with bounded
  prefetch and acks after the handler returns.
- A handler that raises is retried after ``retry_delays[attempt-1]`` seconds;
  after ``max_attempts`` deliveries the event goes to the dead-letter queue
  ``<queue>.dead`` and the dead-letter counter moves.
- Duplicates (same event id) are dropped before the handler when the
  subscription has a ``Deduplicator``.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from casemesh.events import Envelope

Handler = Callable[[Envelope], Awaitable[None]]

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)


class BusUnavailable(Exception):
    """The broker cannot be reached or did not confirm a publish."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS

    def delay_for(self, attempt: int) -> float:
        """Seconds to wait before delivery number ``attempt + 1``."""
        if not self.retry_delays:
            return 0.0
        return self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]


@dataclass
class BusStats:
    """Counters the metrics endpoint reads."""

    published: int = 0
    consumed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Deduplicator(abc.ABC):
    """Remembers which event ids a consumer has handled."""

    @abc.abstractmethod
    async def seen(self, consumer: str, event_id: str) -> bool: ...

    @abc.abstractmethod
    async def remember(self, consumer: str, event_id: str) -> None: ...


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pat: list[str], key: list[str]) -> bool:
    if not pat:
        return not key
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return (head == "*" or head == key[0]) and _match(rest, key[1:])


class Subscription(abc.ABC):
    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop taking new deliveries and wait for the ones in flight."""


class EventBus(abc.ABC):
    stats: BusStats

    @abc.abstractmethod
    async def publish(self, envelope: Envelope) -> None: ...

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        """Publish in order with all in flight; per event, its failure or None once confirmed."""
        results = await asyncio.gather(
            *(self.publish(envelope) for envelope in envelopes), return_exceptions=True
        )
        return [r if isinstance(r, BaseException) else None for r in results]

    @abc.abstractmethod
    async def subscribe(
        self,
        queue: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 16,
        retry: RetryPolicy = RetryPolicy(),
        dedup: Deduplicator | None = None,
    ) -> Subscription: ...

    @abc.abstractmethod
    async def dead_letters(self, queue: str, limit: int = 100) -> list[Envelope]:
        """Events parked in ``<queue>.dead`` (read without removing them)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise BusUnavailable if the broker cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...
