"""Consumer-side de-duplication backed by the consuming service's own store."""

from __future__ import annotations

from datetime import UTC, datetime

from casemesh.bus.group_commit import GroupCommit
from casemesh.bus.port import Deduplicator
from casemesh.store.port import DocumentStore, DuplicateKey, Transaction

COLLECTION = "processed_events"
# Events whose record a handler's own transaction wrote, awaiting ``remember``.
MAX_WRITTEN_BY_HANDLERS = 10_000


class StoreDeduplicator(Deduplicator):
    """Remembers handled event ids in the ``processed_events`` collection.

    Records are written through ``group`` (the service's consumer group
    commit), so the events handled together are remembered in one
    transaction; ``remember`` still returns only once its record is committed.
    A handler that writes anyway can put the record in its own transaction
    (``write``, then ``written`` once committed): ``remember`` then has
    nothing left to do, and the event's effects and its record are one
    commit.
    """

    def __init__(self, store: DocumentStore, group: GroupCommit | None = None) -> None:
        self._store = store
        self._group = group or GroupCommit(store)
        self._written: set[tuple[str, str]] = set()

    async def seen(self, consumer: str, event_id: str) -> bool:
        return await self._store.get(COLLECTION, f"{consumer}:{event_id}") is not None

    async def remember(self, consumer: str, event_id: str) -> None:
        if (consumer, event_id) in self._written:
            self._written.discard((consumer, event_id))
            return  # committed with the handler's own writes

        async def write(tx: Transaction) -> None:
            await self.write(tx, consumer, event_id)

        await self._group.run(write)

    async def write(self, tx: Transaction, consumer: str, event_id: str) -> None:
        """Write the record in ``tx`` (nothing if it is there already)."""
        doc_id = f"{consumer}:{event_id}"
        # Checked first: a failed insert may spoil a shared transaction.
        if await tx.get(COLLECTION, doc_id) is not None:
            return  # another instance handled it at the same moment
        record = {
            "id": doc_id,
            "consumer": consumer,
            "event_id": event_id,
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            await tx.insert(COLLECTION, record)
        except DuplicateKey:
            return  # the same, committed since the check (if the store goes on, fine)

    def written(self, consumer: str, event_id: str) -> None:
        """A transaction that ran ``write`` for this event has committed."""
        if len(self._written) >= MAX_WRITTEN_BY_HANDLERS:
            self._written.clear()  # remember() then just finds the records there
        self._written.add((consumer, event_id))
