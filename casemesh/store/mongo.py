"""MongoDB adapter of the document-store port: the production database.

Built on PyMongo's async API (``AsyncMongoClient``), MongoDB's successor to
Motor: the same API shape, with no thread pool in between.

Layout, in one MongoDB database per service:

- one collection per port collection, named as in the port; a document is
  stored with ``_id`` = its ``id`` and a ``_version`` field, and read back with
  ``id`` and ``_version`` exactly as the SQLite adapter returns it;
- ``_counters``: ``{_id: "<name>:<scope>", value}`` for ``next_value`` (a ``:``
  or ``\\`` in the counter name is escaped with ``\\`` so keys cannot collide),
  plus ``_outbox_seq`` for the outbox;
- ``_outbox``: ``{_id: seq, type, envelope}`` with the envelope as JSON text,
  written in the same transaction as the change that emitted it;
- ``_indexes``: ``{_id: "<collection>:<index>", collection, text}`` for each
  text index, so that every store writing a collection keeps its folded
  copies (``_fold``, see ``mongo_records``) — read once per store and
  collection. A multikey index is an ordinary MongoDB index (MongoDB makes
  it multikey when it meets an array), and so is a counted one: ``count``
  scans its entries. Counters per combination, as SQLite keeps them, would
  make every transaction writing such a document write one of a few hot
  counter documents too, and concurrent transactions would fail with write
  conflicts far more often; here an exact count visits an entry per document.

Transactions are MongoDB multi-document transactions (snapshot reads,
majority writes), so the server must be a replica set; docker-compose runs a
single-node one. MongoDB does not queue concurrent transactions the way
SQLite's single writer does: when two of them write the same document, the
later one fails with a *WriteConflict*. That surfaces as ``TransactionConflict``
(a ``VersionConflict``); retrying the whole transaction is the caller's
business. The single-write conveniences (``insert``/``update``/``delete``
without ``expected_version``) retry it themselves, because SQLite never makes
those fail. After any error inside a transaction MongoDB aborts it, so a
caller cannot catch, say, ``DuplicateKey`` and carry on in the same one.

Outbox sequence numbers are reserved with one atomic ``$inc`` just before the
commit, outside the transaction, so that transactions emitting events do not
all conflict on one counter document. Numbers of a transaction that then fails
are skipped; a relay that reads ``outbox_pending`` in ``seq`` order copes with
gaps and with a lower number committing slightly later than a higher one.
Events about one document stay in order, because transactions writing that
document are serialised by MongoDB.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from casemesh.events import Envelope
from casemesh.store import mongo_records as records
from casemesh.store.documents import apply_changes, check_new_document
from casemesh.store.filters import Filter, Sort
from casemesh.store.mongo_errors import (
    INDEX_KEY_SPECS_CONFLICT,
    INDEX_OPTIONS_CONFLICT,
    TransactionConflict,
    driver_errors,
    error_message,
)
from casemesh.store.mongo_query import ASCENDING, compile_filter, compile_sort, field_name
from casemesh.store.port import (
    Document,
    DocumentStore,
    Index,
    NotFound,
    OutboxRecord,
    StoreError,
    StoreUnavailable,
    Transaction,
    VersionConflict,
    check_collection,
)

OUTBOX = "_outbox"
COUNTERS = "_counters"
INDEXES = "_indexes"
OUTBOX_SEQ_KEY = "_outbox_seq"  # user counter keys always hold an unescaped ":"

DATABASE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")

CONVENIENCE_ATTEMPTS = 8


class MongoStore(DocumentStore):
    """The document-store port on MongoDB.

    ``client`` is a ``pymongo.AsyncMongoClient`` (tests may pass a driver
    double with the same API). The store closes the client on ``close()`` only
    if it owns it, as it does when built with ``from_url``.
    """

    def __init__(
        self,
        client: Any,
        database_name: str,
        *,
        owns_client: bool = False,
        ping_timeout: float = 2.0,
    ) -> None:
        if not isinstance(database_name, str) or not DATABASE_NAME.match(database_name):
            raise ValueError(f"invalid database name: {database_name!r}")
        self.client = client
        self.database_name = database_name
        self._db = client[database_name]
        self._owns_client = owns_client
        self._ping_timeout = ping_timeout
        self._commit_listeners: list[Callable[[int], None]] = []
        self._text_fields: dict[str, frozenset[str]] = {}

    @classmethod
    def from_url(cls, url: str, database_name: str, **client_kwargs: Any) -> MongoStore:
        """A store with its own client; no connection is made until first use."""
        client_kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        client = pymongo.AsyncMongoClient(url, **client_kwargs)
        return cls(client, database_name, owns_client=True)

    # -- plumbing -----------------------------------------------------------

    def _coll(self, collection: str) -> Any:
        return self._db[check_collection(collection)]

    @property
    def _outbox(self) -> Any:
        return self._db[OUTBOX]

    @property
    def _counters(self) -> Any:
        return self._db[COUNTERS]

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(count)`` after each commit that wrote ``count`` outbox events."""
        self._commit_listeners.append(listener)

    async def text_fields(self, collection: str) -> frozenset[str]:
        """The fields of ``collection`` that a text index covers (read once, then cached)."""
        known = self._text_fields.get(collection)
        if known is None:
            with driver_errors(f"indexes of {collection}"):
                cursor = self._db[INDEXES].find({"collection": check_collection(collection)})
                entries = await cursor.to_list()
            known = frozenset(f for entry in entries for f in entry.get("text", ()))
            self._text_fields[collection] = known
        return known

    async def _bump(self, counter: str, scope: str, session: Any) -> int:
        key = records.counter_key(counter, scope)
        with driver_errors(f"counter {counter}/{scope}"):
            doc = await self._counters.find_one_and_update(
                {"_id": key},
                {"$inc": {"value": 1}, "$setOnInsert": {"name": counter, "scope": scope}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
        return int(doc["value"])

    async def _write_outbox(self, events: Sequence[Envelope], session: Any) -> None:
        # Reserve the numbers outside the transaction (see the module docstring).
        with driver_errors("outbox sequence"):
            counter = await self._counters.find_one_and_update(
                {"_id": OUTBOX_SEQ_KEY},
                {"$inc": {"value": len(events)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        first = int(counter["value"]) - len(events) + 1
        records = [
            {"_id": first + i, "type": e.type, "envelope": e.model_dump_json()}
            for i, e in enumerate(events)
        ]
        with driver_errors("outbox"):
            await self._outbox.insert_many(records, ordered=True, session=session)

    @staticmethod
    async def _retrying(attempt: Callable[[], Any], *, retry: bool) -> Any:
        for n in range(CONVENIENCE_ATTEMPTS):
            try:
                return await attempt()
            except TransactionConflict:
                if not retry or n + 1 == CONVENIENCE_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * 2**n))
        raise AssertionError("unreachable")

    # -- transactions -------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        session = self.client.start_session()
        try:
            with driver_errors("start transaction"):
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )
            tx = _MongoTransaction(self, session)
            try:
                yield tx
                if tx.events:
                    await self._write_outbox(tx.events, session)
                with driver_errors("commit"):
                    await session.commit_transaction()
            except BaseException:
                if session.in_transaction:
                    with suppress(PyMongoError):  # the server may have aborted it already
                        await session.abort_transaction()
                raise
            finally:
                tx.closed = True
        finally:
            with suppress(PyMongoError):
                await session.end_session()
        if tx.events:
            for listener in self._commit_listeners:
                listener(len(tx.events))

    # -- single writes ------------------------------------------------------

    async def insert(
        self, collection: str, doc: Document, *, events: Sequence[Envelope] = ()
    ) -> Document:
        return await self._retrying(
            lambda: DocumentStore.insert(self, collection, doc, events=events), retry=True
        )

    async def update(
        self,
        collection: str,
        doc_id: str,
        changes: Document,
        *,
        expected_version: int | None = None,
        events: Sequence[Envelope] = (),
    ) -> Document:
        return await self._retrying(
            lambda: DocumentStore.update(
                self, collection, doc_id, changes, expected_version=expected_version, events=events
            ),
            retry=expected_version is None,
        )

    async def delete(
        self,
        collection: str,
        doc_id: str,
        *,
        expected_version: int | None = None,
        events: Sequence[Envelope] = (),
    ) -> None:
        await self._retrying(
            lambda: DocumentStore.delete(
                self, collection, doc_id, expected_version=expected_version, events=events
            ),
            retry=expected_version is None,
        )

    async def next_value(self, counter: str, scope: str) -> int:
        # One atomic findOneAndUpdate is its own transaction, and never conflicts.
        return await self._bump(counter, scope, session=None)

    # -- reads --------------------------------------------------------------

    async def get(self, collection: str, doc_id: str) -> Document | None:
        coll = self._coll(collection)
        with driver_errors(f"get {collection}"):
            raw = await coll.find_one({"_id": records.check_id(doc_id)})
        return records.from_stored(raw) if raw is not None else None

    async def find(
        self,
        collection: str,
        where: Filter | None = None,
        *,
        sort: Sequence[Sort] = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[Document]:
        query = compile_filter(where, await self.text_fields(collection))
        keys = compile_sort(sort)
        coll = self._coll(collection)
        # As in SQLite: LIMIT 0 gives nothing, a negative limit means no limit.
        # (MongoDB reads limit 0 as "no limit" and a negative one as "one batch".)
        if limit is not None and int(limit) == 0:
            return []
        lim = 0 if limit is None or int(limit) < 0 else int(limit)
        with driver_errors(f"find {collection}"):
            cursor = coll.find(query, sort=keys, skip=max(0, int(skip)), limit=lim)
            raws = await cursor.to_list()
        return [records.from_stored(r) for r in raws]

    async def count(self, collection: str, where: Filter | None = None) -> int:
        query = compile_filter(where, await self.text_fields(collection))
        coll = self._coll(collection)
        with driver_errors(f"count {collection}"):
            return int(await coll.count_documents(query))

    async def ensure_indexes(self, collection: str, indexes: Sequence[Index]) -> None:
        """Create the indexes (idempotent; an index is known by its name).

        A unique index covers only documents where every indexed field is
        present, as SQLite's unique indexes let rows with a NULL key repeat.
        (A field that is present but null is still indexed by MongoDB.)
        A text index is one index per text field, on the other fields then
        the field's folded copy ``_fold.<field>``; declaring a new one
        writes the folded copies into the documents already there.
        """
        coll = self._coll(collection)
        for index in indexes:
            if index.kind == "text":
                await self._ensure_text(collection, index)
                continue
            keys = [(field_name(f), ASCENDING) for f in index.fields]
            if [k for k, _ in keys] == ["_id"]:
                continue  # _id has its unique index already
            options: dict[str, Any] = {"name": index.index_name}
            if index.unique:
                options["unique"] = True
                options["partialFilterExpression"] = {
                    k: {"$exists": True} for k, _ in keys if k != "_id"
                }
            await self._create_index(coll, collection, index.index_name, keys, options)

    async def _create_index(
        self, coll: Any, collection: str, name: str, keys: list, options: dict[str, Any]
    ) -> None:
        try:
            with driver_errors(f"index {collection}.{name}"):
                await coll.create_index(keys, **options)
        except PyMongoError as exc:
            if getattr(exc, "code", None) in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT):
                raise StoreError(
                    f"index {collection}.{name} exists with another "
                    f"definition; drop it to change it: {error_message(exc)}"
                ) from exc
            raise

    async def _ensure_text(self, collection: str, index: Index) -> None:
        coll = self._coll(collection)
        others = [field_name(f) for f in index.fields if f not in index.text]
        for n, text_field in enumerate(index.text):
            keys = [(k, ASCENDING) for k in (*others, f"{records.FOLD}.{text_field}")]
            name = f"{index.index_name}_{n}"
            await self._create_index(coll, collection, name, keys, {"name": name})
        key = f"{collection}:{index.index_name}"
        with driver_errors(f"index {collection}.{index.index_name}"):
            entry = await self._db[INDEXES].find_one({"_id": key})
            if entry is not None and list(entry.get("text", ())) == list(index.text):
                return
            await self._db[INDEXES].update_one(
                {"_id": key},
                {"$set": {"collection": collection, "text": list(index.text)}},
                upsert=True,
            )
        self._text_fields.pop(collection, None)
        fields = await self.text_fields(collection)
        # The documents already there get their folded copies (each in a write of its own).
        with driver_errors(f"index {collection}.{index.index_name}"):
            raws = await coll.find({}).to_list()
            for raw in raws:
                body = records.from_stored(raw)
                await coll.update_one(
                    {"_id": raw["_id"]}, {"$set": {records.FOLD: records.folded(body, fields)}}
                )

    # -- outbox -------------------------------------------------------------

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        if int(limit) == 0:
            return []
        with driver_errors("outbox"):
            cursor = self._outbox.find({}, sort=[("_id", ASCENDING)], limit=max(0, int(limit)))
            raws = await cursor.to_list()
        return [
            OutboxRecord(int(r["_id"]), Envelope.model_validate_json(r["envelope"])) for r in raws
        ]

    async def outbox_mark_published(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        with driver_errors("outbox"):
            await self._outbox.delete_many({"_id": {"$in": [int(s) for s in seqs]}})

    async def ping(self) -> None:
        try:
            with pymongo.timeout(self._ping_timeout):
                await self.client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB did not answer: {exc}") from exc

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()


class _MongoTransaction(Transaction):
    def __init__(self, store: MongoStore, session: Any) -> None:
        self._store = store
        self._session = session
        self.events: list[Envelope] = []
        self.closed = False

    @property
    def session(self) -> Any:
        if self.closed:
            # The session would otherwise run the operation outside any transaction.
            raise RuntimeError("this transaction has ended")
        return self._session

    async def get(self, collection: str, doc_id: str) -> Document | None:
        coll = self._store._coll(collection)
        with driver_errors(f"get {collection}"):
            raw = await coll.find_one({"_id": records.check_id(doc_id)}, session=self.session)
        return records.from_stored(raw) if raw is not None else None

    async def insert(self, collection: str, doc: Document) -> Document:
        doc_id = check_new_document(doc)
        records.check_new_keys(doc)
        coll = self._store._coll(collection)
        body = records.json_body(doc)
        stored = records.to_stored(body, 1, await self._store.text_fields(collection))
        with driver_errors(f"insert {collection}/{doc_id}"):
            await coll.insert_one(stored, session=self.session)
        return {**body, "_version": 1}

    async def update(
        self,
        collection: str,
        doc_id: str,
        changes: Document,
        *,
        expected_version: int | None = None,
    ) -> Document:
        records.check_id(doc_id)
        records.check_version(expected_version)
        records.check_change_keys(changes)
        current = await self.get(collection, doc_id)
        if current is None:
            if expected_version is not None:
                raise VersionConflict(f"{collection}/{doc_id} no longer exists")
            raise NotFound(f"{collection}/{doc_id}")
        if expected_version is not None and current["_version"] != expected_version:
            raise VersionConflict(
                f"{collection}/{doc_id} is at version {current['_version']}, not {expected_version}"
            )
        # The same change semantics as SQLite (dotted keys reach into objects and
        # replace a non-object on the way); then $set the top-level fields touched,
        # guarded by the version read, so a write in between is a conflict.
        updated = records.json_body(apply_changes(current, changes, private=True))
        version = current["_version"] + 1
        fields = {key.split(".", 1)[0]: None for key in changes}
        assignment = {name: updated[name] for name in fields}
        assignment["_version"] = version
        text_fields = await self._store.text_fields(collection)
        if text_fields:
            assignment[records.FOLD] = records.folded(updated, text_fields)
        coll = self._store._coll(collection)
        with driver_errors(f"update {collection}/{doc_id}"):
            result = await coll.update_one(
                {"_id": doc_id, "_version": current["_version"]},
                {"$set": assignment},
                session=self.session,
            )
        if result.matched_count == 0:
            raise VersionConflict(f"{collection}/{doc_id} changed while being updated")
        return {**updated, "_version": version}

    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> None:
        query: dict[str, Any] = {"_id": records.check_id(doc_id)}
        if records.check_version(expected_version) is not None:
            query["_version"] = expected_version
        coll = self._store._coll(collection)
        with driver_errors(f"delete {collection}/{doc_id}"):
            result = await coll.delete_one(query, session=self.session)
        if result.deleted_count == 0:
            if expected_version is not None:
                raise VersionConflict(f"{collection}/{doc_id} changed or is gone")
            raise NotFound(f"{collection}/{doc_id}")

    async def next_value(self, counter: str, scope: str) -> int:
        return await self._store._bump(counter, scope, session=self.session)

    def emit(self, envelope: Envelope) -> None:
        if self.closed:
            raise RuntimeError("this transaction has ended")
        self.events.append(envelope)
