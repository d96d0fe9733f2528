"""The document-store port: collections of JSON documents.

Every document is a dict with a string ``id`` chosen by the caller; the store
adds ``_version`` (starts at 1, +1 per update) for optimistic concurrency.
Writes that belong together go through ``transaction()``; events emitted in a
transaction land in the outbox in the same atomic write, and the outbox relay
publishes them later.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from casemesh.events import Envelope
from casemesh.store.filters import Filter, Sort, check_field

Document = dict[str, Any]


class StoreError(Exception):
    """Base of document-store errors."""


class NotFound(StoreError):
    pass


class VersionConflict(StoreError):
    """The document changed since the caller read it (or was deleted)."""


class DuplicateKey(StoreError):
    """An insert or update broke a unique index (or reused an id)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


@dataclass(frozen=True)
class Index:
    fields: tuple[str, ...]
    unique: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        for f in self.fields:
            check_field(f)

    @property
    def index_name(self) -> str:
        return self.name or ("ux_" if self.unique else "ix_") + "_".join(
            f.replace(".", "_") for f in self.fields
        )


@dataclass(frozen=True)
class OutboxRecord:
    seq: int
    envelope: Envelope


@dataclass
class Writes:
    """What a transaction wrote, for adapters that apply it in one go."""

    events: list[Envelope] = field(default_factory=list)


class Transaction(abc.ABC):
    """Reads and writes that commit or roll back together, with outbox events."""

    @abc.abstractmethod
    async def get(self, collection: str, doc_id: str) -> Document | None: ...

    @abc.abstractmethod
    async def insert(self, collection: str, doc: Document) -> Document: ...

    @abc.abstractmethod
    async def update(
        self,
        collection: str,
        doc_id: str,
        changes: Document,
        *,
        expected_version: int | None = None,
    ) -> Document:
        """Set top-level (or dotted) fields; raise VersionConflict/NotFound."""

    @abc.abstractmethod
    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> None: ...

    @abc.abstractmethod
    async def next_value(self, counter: str, scope: str) -> int:
        """Atomically increment and return the counter ``counter`` within ``scope``."""

    @abc.abstractmethod
    def emit(self, envelope: Envelope) -> None:
        """Queue an event in the outbox; it is written with the transaction."""


class DocumentStore(abc.ABC):
    """Port for one service's database."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    @abc.abstractmethod
    async def get(self, collection: str, doc_id: str) -> Document | None: ...

    @abc.abstractmethod
    async def find(
        self,
        collection: str,
        where: Filter | None = None,
        *,
        sort: Sequence[Sort] = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[Document]: ...

    @abc.abstractmethod
    async def count(self, collection: str, where: Filter | None = None) -> int: ...

    @abc.abstractmethod
    async def ensure_indexes(self, collection: str, indexes: Sequence[Index]) -> None: ...

    @abc.abstractmethod
    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]: ...

    @abc.abstractmethod
    async def outbox_mark_published(self, seqs: Sequence[int]) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable if the database cannot answer."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # Single-write conveniences: each is its own transaction.

    async def insert(
        self, collection: str, doc: Document, *, events: Sequence[Envelope] = ()
    ) -> Document:
        async with self.transaction() as tx:
            saved = await tx.insert(collection, doc)
            for e in events:
                tx.emit(e)
        return saved

    async def update(
        self,
        collection: str,
        doc_id: str,
        changes: Document,
        *,
        expected_version: int | None = None,
        events: Sequence[Envelope] = (),
    ) -> Document:
        async with self.transaction() as tx:
            saved = await tx.update(collection, doc_id, changes, expected_version=expected_version)
            for e in events:
                tx.emit(e)
        return saved

    async def delete(
        self,
        collection: str,
        doc_id: str,
        *,
        expected_version: int | None = None,
        events: Sequence[Envelope] = (),
    ) -> None:
        async with self.transaction() as tx:
            await tx.delete(collection, doc_id, expected_version=expected_version)
            for e in events:
                tx.emit(e)

    async def next_value(self, counter: str, scope: str) -> int:
        async with self.transaction() as tx:
            return await tx.next_value(counter, scope)


COLLECTION_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


def check_collection(name: str) -> str:
    import re

    if not re.match(COLLECTION_NAME_PATTERN, name):
        raise ValueError(f"invalid collection name: {name!r}")
    return name
