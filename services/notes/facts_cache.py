"""A case's facts kept briefly in memory, so reads need not ask the cases service every time.

Reading a case's notes needs the case's facts (process permissions,
participants, supervisors) from the cases service, an HTTP round trip that
cost more than the notes query itself. Read paths take them from here:

- An answer is used for at most ``ttl`` seconds, counted from when it was
  asked for: a change no event announces (a process definition's
  permissions, a supervisor group's members) takes effect within that time.
- Any ``case.#`` event for a case drops its answer at once (``invalidate``),
  so a routing, reassignment, cancellation or deletion takes effect as soon
  as the event reaches this instance (with several instances, the others
  still within ``ttl``). An answer being fetched when the event arrives is
  not kept.
- A cached answer is trusted only to *grant* a read: when it would refuse,
  the facts are fetched again and the fresh ones decide (``read``). A grant
  therefore works at once; only a revocation waits for the event or ``ttl``.
- An answer older than ``ttl / 2`` that is still used starts one refresh in
  the background, so a case read often is never waited for.
- Concurrent misses for one case share one request; "no such case" is never
  kept; at most ``max_entries`` cases are kept (least recently used go).

Writes (creating a note) do not use this: they ask the cases service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from casemesh.web.errors import ApiError
from services.notes.casefacts import CaseFacts

log = logging.getLogger("casemesh.notes.facts")

FACTS_TTL = 3.0
MAX_ENTRIES = 10_000

Fetch = Callable[[str], Awaitable[CaseFacts | None]]


@dataclass
class _Fetching:
    task: asyncio.Task[CaseFacts | None]
    asked_at: float
    keep: bool = True  # False once an event said the case changed meanwhile


class FactsCache:
    """Case facts by ``app_uid``, fetched with ``fetch`` and kept for at most ``ttl`` seconds."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        ttl: float = FACTS_TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, CaseFacts]] = OrderedDict()
        self._fetching: dict[str, list[_Fetching]] = {}
        self._background: set[asyncio.Task[CaseFacts | None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    async def read(self, app_uid: str, allowed: Callable[[CaseFacts], bool]) -> CaseFacts | None:
        """The case's facts for a read that ``allowed`` decides; None if there is no such case.

        Cached facts are returned only if ``allowed`` accepts them; otherwise
        fresh ones (asked for after this call began) are returned, whatever
        they say.
        """
        cached = self._cached(app_uid)
        if cached is not None and allowed(cached):
            return cached
        running = self._fetching.get(app_uid) if cached is None else None
        if running:  # share a fetch already under way, if its answer allows the read
            shared = await asyncio.shield(running[-1].task)
            if shared is not None and allowed(shared):
                return shared
        return await asyncio.shield(self._start(app_uid).task)

    def invalidate(self, app_uid: object) -> None:
        """Forget what is known about the case (an event said it changed)."""
        if not isinstance(app_uid, str):
            return
        self._entries.pop(app_uid, None)
        for fetching in self._fetching.pop(app_uid, ()):
            fetching.keep = False

    async def close(self) -> None:
        """Cancel the background refreshes."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _cached(self, app_uid: str) -> CaseFacts | None:
        entry = self._entries.get(app_uid)
        if entry is None:
            return None
        asked_at, facts = entry
        age = self._clock() - asked_at
        if age >= self._ttl:
            del self._entries[app_uid]
            return None
        self._entries.move_to_end(app_uid)
        if age >= self._ttl / 2 and app_uid not in self._fetching:
            task = self._start(app_uid).task
            self._background.add(task)
            task.add_done_callback(self._background_done)
        return facts

    def _start(self, app_uid: str) -> _Fetching:
        fetching = _Fetching(asyncio.create_task(self._fetch(app_uid)), self._clock())
        self._fetching.setdefault(app_uid, []).append(fetching)
        fetching.task.add_done_callback(lambda _: self._settle(app_uid, fetching))
        return fetching

    def _settle(self, app_uid: str, fetching: _Fetching) -> None:
        running = self._fetching.get(app_uid, [])
        if fetching in running:
            running.remove(fetching)
            if not running:
                del self._fetching[app_uid]
        task = fetching.task
        if task.cancelled() or task.exception() is not None or not fetching.keep:
            return
        facts = task.result()
        current = self._entries.get(app_uid)
        if current is not None and current[0] > fetching.asked_at:
            return  # a fetch asked later has answered already
        if facts is None:
            self._entries.pop(app_uid, None)
            return
        self._entries[app_uid] = (fetching.asked_at, facts)
        self._entries.move_to_end(app_uid)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _background_done(self, task: asyncio.Task[CaseFacts | None]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, ApiError):
            log.warning("refreshing a case's facts failed: %s", error)
        elif error is not None:
            log.error("refreshing a case's facts failed", exc_info=error)


def cache_context(cache: FactsCache):
    """A cleanup_ctx that cancels the cache's background refreshes at shutdown."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        yield
        await cache.close()

    return lifecycle
