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
    """An index on ``fields``, in order; four kinds.

    - Plain (the default): equality, range and sort on the fields, in order;
      ``unique`` refuses two documents with the same values.
    - Multikey (``array`` names one of ``fields``): that field holds an
      array, and the index has one entry per distinct element, so ``Has``
      on it is a seek — with the fields before it pinned by ``Eq`` — instead
      of reading every document. The other fields are stored in each entry:
      filters on them are answered from the index too. (MongoDB makes any
      index on an array field multikey by itself; SQLite keeps a side table
      of ``(fields…, document id)`` rows, one per element.)
    - Text (``text`` names some of ``fields``): ``Contains`` on those
      fields — a case-insensitive substring, under Unicode case folding
      (``str.casefold``) on both sides — is answered by the index, and the
      other fields are stored with it so that filters on them are too.
      SQLite: an FTS5 table with the ``trigram`` tokenizer over the folded
      text, used for search text of 3 or more characters (shorter text
      reads the documents). MongoDB: a folded copy of each text field in
      the document (``_fold.<field>``), indexed after the other fields, and
      matched with a case-sensitive regular expression of the folded text —
      an index scan, not a seek. Without a text index, ``Contains`` keeps
      the same meaning but reads every document (MongoDB: a
      case-insensitive regular expression, which folds only simple cases).
      ``facets`` names some of the other fields, of few distinct values
      (tenant, status, process, participants): ``Eq``, ``In`` and ``Has``
      on them, and ``Not`` of those, are then matched inside the full-text
      part together with the text, so that a search's count costs about
      what its text match costs instead of a lookup per matching document.
      (SQLite: each distinct value, or array element, of a facet gets a
      code, and the codes of a document are indexed with its text. MongoDB:
      the fields are in the index already; ``facets`` changes nothing.)
    - Counted (``counted=True``, optionally with ``array``): the store keeps
      how many documents hold each distinct combination of the fields'
      values (with ``array``: each distinct element of that array with the
      other fields), so that ``count`` with a filter that reads only these
      fields — ``Eq``, ``In``, ``Range``, ``Contains``, ``And``, ``Or``,
      ``Not`` on them and, with ``array``, one ``Has`` on the array — adds
      up the numbers of the combinations it matches instead of visiting an
      entry per document: its cost grows with the combinations, not with
      the documents. Meant for a few fields of few values (tenant, status,
      process); ``find`` never uses it. SQLite: a table of (values,
      number) that triggers keep in the same statement as the document.
      MongoDB: an ordinary index on the fields, which ``count`` scans
      (MongoDB keeps no counts in its B-trees, and a counts collection
      written in every transaction would make concurrent transactions
      conflict on its few documents), so there a count still costs an
      index entry per document.
    """

    fields: tuple[str, ...]
    unique: bool = False
    name: str = ""
    array: str = ""
    text: tuple[str, ...] = ()
    counted: bool = False
    facets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "text", tuple(self.text))
        object.__setattr__(self, "facets", tuple(self.facets))
        if not self.fields:
            raise ValueError("an index needs at least one field")
        for f in self.fields:
            check_field(f)
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"a field appears twice in an index: {self.fields}")
        if self.array and self.text:
            raise ValueError("an index is multikey (array) or text, not both")
        if self.array and self.array not in self.fields:
            raise ValueError(f"the array field {self.array!r} is not one of the index's fields")
        if self.array == "id" or "id" in self.text:
            raise ValueError("id is neither an array nor text")
        if not set(self.text) <= set(self.fields):
            raise ValueError(f"text fields {self.text} must be among the index's fields")
        if self.unique and (self.array or self.text or self.counted):
            raise ValueError("only plain indexes can be unique")
        if self.counted and self.text:
            raise ValueError("an index is counted or text, not both")
        if self.counted and "id" in self.fields:
            raise ValueError("a counted index cannot hold id (one document per value)")
        if self.facets and not self.text:
            raise ValueError("only a text index has facets")
        if not set(self.facets) <= set(self.fields) - set(self.text) - {"id"}:
            raise ValueError(f"facets {self.facets} must be other fields of the index than id")
        if len(set(self.facets)) != len(self.facets):
            raise ValueError(f"a field appears twice in facets: {self.facets}")

    @property
    def kind(self) -> str:
        """``plain``, ``array`` (multikey), ``text`` or ``counted`` (with or without an array)."""
        if self.counted:
            return "counted"
        return "array" if self.array else "text" if self.text else "plain"

    @property
    def index_name(self) -> str:
        if self.name:
            return self.name
        prefixes = {"array": "mx_", "text": "tx_", "counted": "cx_"}
        prefix = prefixes.get(self.kind, "ux_" if self.unique else "ix_")
        return prefix + "_".join(f.replace(".", "_") for f in self.fields)


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

    async def find_page(
        self,
        collection: str,
        where: Filter | None = None,
        *,
        sort: Sequence[Sort] = (),
        skip: int = 0,
        limit: int,
    ) -> tuple[int, list[Document]]:
        """How many documents match ``where``, and the page ``skip``/``limit`` of them.

        What ``count`` and then ``find`` give (a list's total and its page);
        an adapter may answer both from one pass over the matches.
        """
        total = await self.count(collection, where)
        if limit == 0:
            return total, []
        return total, await self.find(collection, where, sort=sort, skip=skip, limit=limit)

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
