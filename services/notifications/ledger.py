"""Group commit of the service's delivery writes: new records, claims, outcomes.

Every write the service makes on the way of an e-mail — the records an
event's handler adds, the claims the sender takes, the outcomes it writes
after each send — goes through one ``Ledger``, over the kernel's
``GroupCommit``: a write is committed as soon as no other commit is under
way, together with every write that arrived while the previous one was
committing. Nothing waits for a batch to fill, so an idle service commits
each write at once; a busy one commits many in one transaction instead of
holding the store's write lock once per write.

That matters on SQLite: a transaction costs two hops to the writer thread
(``BEGIN IMMEDIATE``, ``COMMIT``), and with the CPU shared those hops, not
the statements, set how many transactions per second the service gets — one
commit per write left the lock busy nearly all the time at ~150 e-mails/s.

Batching changes how many commits there are, not what is written: each
write keeps its own check inside the shared transaction (see
``Deliveries.apply_in``). If the shared transaction fails (a conflict with
another instance, a store error), each of its writes is applied again on
its own (``Deliveries.apply_alone``, with its own fallbacks on a conflict),
and a failure there reaches only that write's caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from casemesh.bus.group_commit import GroupCommit
from casemesh.store.port import Document
from services.notifications.deliveries import Claims, Deliveries, NewRecords, Outcome, Write

# Most records (inserted, claimed or settled) in one transaction.
MAX_RECORDS_PER_COMMIT = 500


def _records(write: Write) -> int:
    return 1 if isinstance(write, Outcome) else len(write.docs)


class Ledger:
    def __init__(self, deliveries: Deliveries) -> None:
        self._deliveries = deliveries
        self._group = GroupCommit(deliveries.store, max_writes=MAX_RECORDS_PER_COMMIT)
        self.written = 0  # for tests and benchmarks: outcomes committed

    # For tests and benchmarks: transactions, the writes they carried, the most in one.
    @property
    def commits(self) -> int:
        return self._group.commits

    @property
    def writes(self) -> int:
        return self._group.writes

    @property
    def largest(self) -> int:
        return self._group.largest

    async def record(self, docs: Sequence[Document]) -> int:
        """Write the records of ``docs`` not recorded yet; how many were new."""
        return await self._submit(NewRecords(tuple(docs))) if docs else 0

    async def claim(self, docs: Sequence[Document], *, owner: str, lease: float) -> list[Document]:
        """Claim each of ``docs`` still at the version read; the records claimed."""
        return await self._submit(Claims(tuple(docs), owner, lease)) if docs else []

    async def write(self, outcome: Outcome) -> bool:
        """Write ``outcome``; False when the record's version moved on (see record_outcomes)."""
        return await self._submit(outcome, committed=self._outcome_written)

    async def _submit(self, write: Write, committed: Callable[[], None] | None = None) -> Any:
        return await self._group.run(
            partial(self._deliveries.apply_in, write=write),
            weight=_records(write),
            alone=partial(self._deliveries.apply_alone, write),
            committed=committed,
        )

    def _outcome_written(self) -> None:
        self.written += 1
