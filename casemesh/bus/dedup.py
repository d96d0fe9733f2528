"""Consumer-side de-duplication backed by the consuming service's own store."""

from __future__ import annotations

from datetime import UTC, datetime

from casemesh.bus.port import Deduplicator
from casemesh.store.port import DocumentStore, DuplicateKey

COLLECTION = "processed_events"


class StoreDeduplicator(Deduplicator):
    """Remembers handled event ids in the ``processed_events`` collection."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def seen(self, consumer: str, event_id: str) -> bool:
        return await self._store.get(COLLECTION, f"{consumer}:{event_id}") is not None

    async def remember(self, consumer: str, event_id: str) -> None:
        record = {
            "id": f"{consumer}:{event_id}",
            "consumer": consumer,
            "event_id": event_id,
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            await self._store.insert(COLLECTION, record)
        except DuplicateKey:
            return  # another instance handled it at the same moment: already remembered
