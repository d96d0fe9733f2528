"""Group commit of the service's delivery writes: new records, claims, outcomes.

Every write the service makes on the way of an e-mail — the records an
event's handler adds, the claims the sender takes, the outcomes it writes
after each send — goes through one ``GroupCommit``: a write is committed as
soon as no other commit is under way, together with every write that arrived
while the previous one was committing. Nothing waits for a batch to fill, so
an idle service commits each write at once; a busy one commits many in one
transaction instead of holding the store's write lock once per write.

That matters on SQLite: a transaction costs two hops to the writer thread
(``BEGIN IMMEDIATE``, ``COMMIT``), and with the CPU shared those hops, not
the statements, set how many transactions per second the service gets — one
commit per write left the lock busy nearly all the time at ~150 e-mails/s.

Batching changes how many commits there are, not what is written: each
write keeps its own check inside the shared transaction (see
``Deliveries.apply``). If the shared transaction fails (a conflict with
another instance, a store error), each of its writes is applied again in a
transaction of its own, and a failure there reaches only that write's
caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from casemesh.store.port import Document
from services.notifications.deliveries import Claims, Deliveries, NewRecords, Outcome, Write

# Most records (inserted, claimed or settled) in one transaction.
MAX_RECORDS_PER_COMMIT = 500


def _size(write: Write) -> int:
    return 1 if isinstance(write, Outcome) else len(write.docs)


class GroupCommit:
    def __init__(self, deliveries: Deliveries) -> None:
        self._deliveries = deliveries
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        # For tests and benchmarks: transactions, the writes they carried (and
        # the most in one), and how many of those were outcomes.
        self.commits = 0
        self.writes = 0
        self.largest = 0
        self.written = 0

    async def record(self, docs: Sequence[Document]) -> int:
        """Write the records of ``docs`` not recorded yet; how many were new."""
        return await self._submit(NewRecords(tuple(docs))) if docs else 0

    async def claim(self, docs: Sequence[Document], *, owner: str, lease: float) -> list[Document]:
        """Claim each of ``docs`` still at the version read; the records claimed."""
        return await self._submit(Claims(tuple(docs), owner, lease)) if docs else []

    async def write(self, outcome: Outcome) -> bool:
        """Write ``outcome``; False when the record's version moved on (see record_outcomes)."""
        return await self._submit(outcome)

    async def _submit(self, write: Write) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        # Shielded: a caller cancelled while waiting does not take its write back.
        return await asyncio.shield(future)

    def _next_batch(self) -> list[tuple[Write, asyncio.Future[Any]]]:
        size, count = 0, 0
        for write, _ in self._pending:
            if count and size + _size(write) > MAX_RECORDS_PER_COMMIT:
                break
            size += _size(write)
            count += 1
        batch = self._pending[:count]
        del self._pending[:count]
        return batch

    async def _flush(self) -> None:
        batch: list[tuple[Write, asyncio.Future[Any]]] = []
        try:
            while self._pending:
                batch = self._next_batch()
                writes = [w for w, _ in batch]
                try:
                    answers = await self._deliveries.apply(writes)
                except Exception:  # each write again on its own (the lot was rolled back)
                    await self._one_by_one(batch)
                else:
                    self._count(writes)
                    for (_, future), answer in zip(batch, answers, strict=True):
                        if not future.done():
                            future.set_result(answer)
                batch = []
        except asyncio.CancelledError:
            for _, future in (*batch, *self._pending):
                future.cancel()
            self._pending.clear()
            raise

    async def _one_by_one(self, batch: list[tuple[Write, asyncio.Future[Any]]]) -> None:
        for write, future in batch:
            try:
                answer = await self._deliveries.apply_alone(write)
            except Exception as exc:  # handed to that write's caller
                if not future.done():
                    future.set_exception(exc)
                continue
            self._count([write])
            if not future.done():
                future.set_result(answer)

    def _count(self, writes: list[Write]) -> None:
        self.commits += 1
        self.writes += len(writes)
        self.largest = max(self.largest, len(writes))
        self.written += sum(isinstance(w, Outcome) for w in writes)
