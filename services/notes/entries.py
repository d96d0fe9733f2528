"""The repository of case entries: one collection for every dialect.

A ProcessMaker note, a Trackops update, a TheHive log, a Kibana comment and
a workflow transition seen in a case event are each an entry of a case,
told apart by ``kind``. Common fields:

    id, kind, workspace, app_uid, app_number, author, author_name,
    at (stored time, see clock), at_ms, text, status

Kind-specific fields live beside them (``task_id`` for logs, ``number``,
``access_group``… for updates). Every change is written with its event in
one transaction (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from casemesh.events import Envelope
from casemesh.store.filters import Filter, Sort
from casemesh.store.port import Document, DocumentStore, Index, VersionConflict
from casemesh.web.errors import ApiError

ENTRIES = "entries"
# Uniqueness comes from ids (``update:{n}``, ``transition:{event id}``), not from
# unique indexes: MongoDB's would count a missing field as a duplicate null.
NOTE, UPDATE, LOG, COMMENT, TRANSITION = "note", "update", "log", "comment", "transition"
UPDATE_COUNTER = "case_update"

INDEXES = {
    ENTRIES: (
        Index(("workspace", "app_uid", "kind", "at")),
        Index(("workspace", "app_uid", "kind", "author", "at")),
        Index(("workspace", "app_uid", "at")),
        Index(("kind", "task_id", "at_ms")),
        Index(("workspace", "kind", "at_ms")),
        Index(("kind", "number")),
        Index(("workspace", "kind", "app_number", "number")),
        Index(("workspace", "kind", "access_group", "number")),
        Index(("workspace", "kind", "author", "number")),
        Index(("workspace", "kind", "thread_id", "number")),
        Index(("workspace", "kind", "subject_id", "number")),
        Index(("workspace", "kind", "activity_at")),
        Index(("workspace", "kind", "updated_at")),
        Index(("workspace", "kind", "validated_at")),
    )
}


class Entries:
    """Reads and writes of entries over the service's document store."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def get(self, entry_id: str) -> Document | None:
        return await self.store.get(ENTRIES, entry_id)

    async def find(
        self, where: Filter, *, sort: Sequence[Sort] = (), skip: int = 0, limit: int | None = None
    ) -> list[Document]:
        return await self.store.find(ENTRIES, where, sort=sort, skip=skip, limit=limit)

    async def count(self, where: Filter) -> int:
        return await self.store.count(ENTRIES, where)

    async def add(self, doc: Document, *events: Envelope) -> Document:
        """Insert an entry and queue its events in the same transaction."""
        async with self.store.transaction() as tx:
            saved = await tx.insert(ENTRIES, doc)
            for e in events:
                tx.emit(e)
        return saved

    async def add_numbered(
        self,
        build: Callable[[int], Document],
        announce: Callable[[Document], Sequence[Envelope]],
    ) -> Document:
        """Insert an update with the next integer id, in one transaction with its events."""
        async with self.store.transaction() as tx:
            number = await tx.next_value(UPDATE_COUNTER, "all")
            saved = await tx.insert(ENTRIES, build(number))
            for e in announce(saved):
                tx.emit(e)
        return saved

    async def change(self, doc: Document, changes: Document, *events: Envelope) -> Document:
        """Apply ``changes`` if nobody changed ``doc`` since it was read (else a 409)."""
        try:
            async with self.store.transaction() as tx:
                saved = await tx.update(
                    ENTRIES, doc["id"], changes, expected_version=doc.get("_version")
                )
                for e in events:
                    tx.emit(e)
        except VersionConflict:
            raise ApiError(409, "it was changed meanwhile; read it again and retry") from None
        return saved
