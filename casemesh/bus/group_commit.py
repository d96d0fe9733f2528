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
each of its writes is run again in a transaction of its own, and a failure
there reaches only that write's caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from casemesh.store.port import DocumentStore, Transaction

T = TypeVar("T")
Write = Callable[[Transaction], Awaitable[Any]]

# Most writes in one transaction: keeps the store's write lock short.
MAX_WRITES_PER_COMMIT = 200


class GroupCommit:
    def __init__(self, store: DocumentStore, max_writes: int = MAX_WRITES_PER_COMMIT) -> None:
        self._store = store
        self._max_writes = max_writes
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # for tests: transactions committed
        self.writes = 0  # ... and the writes they carried

    async def run(self, write: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``write`` in a transaction shared with others; its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="group-commit")
        # Shielded: a caller cancelled while waiting does not take its write back.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        batch: list[tuple[Write, asyncio.Future[Any]]] = []
        try:
            while self._pending:
                batch = self._pending[: self._max_writes]
                del self._pending[: self._max_writes]
                if len(batch) == 1:
                    await self._alone(*batch[0])
                else:
                    await self._together(batch)
                batch = []
        except asyncio.CancelledError:
            for _, future in (*batch, *self._pending):
                future.cancel()
            self._pending.clear()
            raise

    async def _together(self, batch: list[tuple[Write, asyncio.Future[Any]]]) -> None:
        try:
            async with self._store.transaction() as tx:
                answers = [await write(tx) for write, _ in batch]
        except Exception:  # rolled back as a whole: each again on its own
            for write, future in batch:
                await self._alone(write, future)
            return
        self.commits += 1
        self.writes += len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    async def _alone(self, write: Write, future: asyncio.Future[Any]) -> None:
        try:
            async with self._store.transaction() as tx:
                answer = await write(tx)
        except Exception as exc:  # handed to that write's caller
            if not future.done():
                future.set_exception(exc)
            return
        self.commits += 1
        self.writes += 1
        if not future.done():
            future.set_result(answer)
