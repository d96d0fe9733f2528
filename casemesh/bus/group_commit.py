"""Group commit for what event consumers write: many events' writes, one transaction.

A consumer handles up to ``prefetch`` events at once, and each wrote its
projection and then its de-duplication record in transactions of their own:
two commits per event, each a round trip to the store's writer (on SQLite, a
hop to the writer thread and an fsync-ordered ``COMMIT``), which cost more CPU
than the statements. ``GroupCommit.run(write)`` queues ``write`` and commits
it as soon as no other commit of this group is under way, together with
every write queued meanwhile. Nothing waits for a batch to fill: an idle
consumer commits each write at once.

Batching changes how many commits there are, not what is written or when a
caller may go on: ``run`` returns only once its write is committed (so an
event is still acknowledged only after its writes are durable). A write
must leave the transaction usable when it returns (check before inserting
rather than catching ``DuplicateKey``). If the shared transaction fails,
each of its writes is run again in a transaction of its own (or the way its
caller gave as ``alone``), and a failure there reaches only that write's
caller.

A write that stands for many records (the notifications ledger's) can count
as more than one towards ``max_writes`` (``weight``), so one commit holds at
most that many records whatever the mix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from casemesh.store.port import DocumentStore, Transaction

T = TypeVar("T")
Write = Callable[[Transaction], Awaitable[Any]]
Alone = Callable[[], Awaitable[Any]]

# Most writes in one transaction: keeps the store's write lock short.
MAX_WRITES_PER_COMMIT = 200


@dataclass(frozen=True)
class _Queued:
    write: Write
    future: asyncio.Future[Any]
    weight: int
    alone: Alone | None
    committed: Callable[[], None] | None


class GroupCommit:
    def __init__(self, store: DocumentStore, max_writes: int = MAX_WRITES_PER_COMMIT) -> None:
        self._store = store
        self._max_writes = max_writes
        self._pending: list[_Queued] = []
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # for tests and benchmarks: transactions committed,
        self.writes = 0  # ... the writes they carried,
        self.largest = 0  # ... and the most in one

    async def run(
        self,
        write: Callable[[Transaction], Awaitable[T]],
        *,
        weight: int = 1,
        alone: Callable[[], Awaitable[T]] | None = None,
        committed: Callable[[], None] | None = None,
    ) -> T:
        """Run ``write`` in a transaction shared with others; its result once committed.

        ``weight``: how many of ``max_writes`` it counts as. ``alone``: how to
        do it without others (default: ``write`` in a transaction of its
        own) when the shared transaction failed or nothing else is queued;
        it must answer what ``write`` would. ``committed``: called once the
        write is committed, before its result is handed back.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Queued(write, future, weight, alone, committed))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="group-commit")
        # Shielded: a caller cancelled while waiting does not take its write back.
        return await asyncio.shield(future)

    def _next_batch(self) -> list[_Queued]:
        """The oldest writes whose weights fit in ``max_writes`` (at least one)."""
        total, count = 0, 0
        for queued in self._pending:
            if count and total + queued.weight > self._max_writes:
                break
            total += queued.weight
            count += 1
        batch = self._pending[:count]
        del self._pending[:count]
        return batch

    async def _flush(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._pending:
                batch = self._next_batch()
                if len(batch) == 1:
                    await self._alone(batch[0])
                else:
                    await self._together(batch)
                batch = []
        except asyncio.CancelledError:
            for queued in (*batch, *self._pending):
                queued.future.cancel()
            self._pending.clear()
            raise

    async def _together(self, batch: list[_Queued]) -> None:
        try:
            async with self._store.transaction() as tx:
                answers = [await queued.write(tx) for queued in batch]
        except Exception:  # rolled back as a whole: each again on its own
            for queued in batch:
                await self._alone(queued)
            return
        self._count(len(batch))
        for queued, answer in zip(batch, answers, strict=True):
            self._settle(queued, answer)

    async def _alone(self, queued: _Queued) -> None:
        try:
            if queued.alone is not None:
                answer = await queued.alone()
            else:
                async with self._store.transaction() as tx:
                    answer = await queued.write(tx)
        except Exception as exc:  # handed to that write's caller
            if not queued.future.done():
                queued.future.set_exception(exc)
            return
        self._count(1)
        self._settle(queued, answer)

    def _count(self, writes: int) -> None:
        self.commits += 1
        self.writes += writes
        self.largest = max(self.largest, writes)

    @staticmethod
    def _settle(queued: _Queued, answer: Any) -> None:
        if queued.committed is not None:
            queued.committed()
        if not queued.future.done():
            queued.future.set_result(answer)
