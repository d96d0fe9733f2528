"""Process definitions in the cases service's document store.

Collection ``process_definitions``, one document per process of a workspace::

    {id: "<workspace>:<pro_uid>", workspace, pro_uid,
     definition: <ProcessDefinition as JSON>, revision: 1, 2, …,
     created_at, created_by, updated_at, updated_by}

with a unique index on (workspace, pro_uid). Cases live in collection
``cases`` (written by the cases module) with ``workspace`` and ``pro_uid``
fields; this module only counts them.
"""

from __future__ import annotations

from casemesh.store.filters import And, Eq, Sort
from casemesh.store.port import Document, DocumentStore, Index

COLLECTION = "process_definitions"
CASES_COLLECTION = "cases"
INDEXES: dict[str, tuple[Index, ...]] = {
    COLLECTION: (Index(("workspace", "pro_uid"), unique=True),),
}


def document_id(workspace: str, pro_uid: str) -> str:
    # Neither part can hold ":" (workspace and uid patterns), so ids cannot collide.
    return f"{workspace}:{pro_uid}"


class DefinitionStore:
    """Reads and writes of ``process_definitions``; no rules, just the store."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, workspace: str, pro_uid: str) -> Document | None:
        doc = await self._store.get(COLLECTION, document_id(workspace, pro_uid))
        if doc is None or doc["workspace"] != workspace or doc["pro_uid"] != pro_uid:
            return None
        return doc

    async def list(self, workspace: str) -> list[Document]:
        return await self._store.find(
            COLLECTION, Eq("workspace", workspace), sort=(Sort("pro_uid"),)
        )

    async def insert(self, doc: Document) -> Document:
        return await self._store.insert(COLLECTION, doc)

    async def update(self, doc: Document, changes: Document) -> Document:
        """Apply ``changes`` if ``doc`` is still the stored version (else VersionConflict)."""
        return await self._store.update(
            COLLECTION, doc["id"], changes, expected_version=doc["_version"]
        )

    async def delete(self, doc: Document) -> None:
        await self._store.delete(COLLECTION, doc["id"], expected_version=doc["_version"])

    async def count_cases(self, workspace: str, pro_uid: str) -> int:
        where = And(Eq("workspace", workspace), Eq("pro_uid", pro_uid))
        return await self._store.count(CASES_COLLECTION, where)
