"""A transaction of the SQLite store: its statements run on the writer connection.

Once ``BEGIN IMMEDIATE`` holds the write lock nothing can make them wait, so
they run on the event loop (see ``sqlite``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from casemesh.events import Envelope
from casemesh.store.documents import apply_changes, check_new_document
from casemesh.store.port import Document, DuplicateKey, NotFound, Transaction, VersionConflict

if TYPE_CHECKING:
    from casemesh.store.sqlite import SqliteStore

T = TypeVar("T")


def row_to_doc(row: tuple[str, int, str]) -> Document:
    doc = json.loads(row[2])
    doc["id"] = row[0]
    doc["_version"] = row[1]
    return doc


def dump(doc: Document) -> str:
    body = {k: v for k, v in doc.items() if k != "_version"}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class SqliteTransaction(Transaction):
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.events: list[Envelope] = []

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._store._in_transaction(fn)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        def read(conn: sqlite3.Connection) -> Document | None:
            table = self._store._ensure_table(conn, collection)
            row = conn.execute(f"SELECT id, v, doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
            return row_to_doc(row) if row else None

        return await self._write(read)

    async def insert(self, collection: str, doc: Document) -> Document:
        doc_id = check_new_document(doc)
        body = dump(doc)

        def write(conn: sqlite3.Connection) -> None:
            table = self._store._ensure_table(conn, collection)
            conn.execute(f"INSERT INTO {table}(id, v, doc) VALUES (?, 1, ?)", (doc_id, body))

        try:
            await self._write(write)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(f"{collection}: {exc}") from exc
        return {**json.loads(body), "_version": 1}

    async def insert_many(self, collection: str, docs: Sequence[Document]) -> int:
        """Insert new documents in one statement (bulk loading); how many were inserted.

        An adapter extra, not part of the port: the same checks, JSON and
        version 1 as ``insert``, without reading each document back. A
        duplicate id raises DuplicateKey and, like any error, leaves the
        transaction to roll back.
        """
        rows = [(check_new_document(doc), dump(doc)) for doc in docs]

        def write(conn: sqlite3.Connection) -> None:
            table = self._store._ensure_table(conn, collection)
            conn.executemany(f"INSERT INTO {table}(id, v, doc) VALUES (?, 1, ?)", rows)

        try:
            await self._write(write)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(f"{collection}: {exc}") from exc
        return len(rows)

    async def update(
        self,
        collection: str,
        doc_id: str,
        changes: Document,
        *,
        expected_version: int | None = None,
    ) -> Document:
        current = await self.get(collection, doc_id)
        if current is None:
            if expected_version is not None:
                raise VersionConflict(f"{collection}/{doc_id} no longer exists")
            raise NotFound(f"{collection}/{doc_id}")
        if expected_version is not None and current["_version"] != expected_version:
            raise VersionConflict(
                f"{collection}/{doc_id} is at version {current['_version']}, not {expected_version}"
            )
        version = current["_version"] + 1
        body = dump(apply_changes(current, changes, private=True))
        updated = {**json.loads(body), "_version": version}

        def write(conn: sqlite3.Connection) -> None:
            table = self._store._ensure_table(conn, collection)
            conn.execute(
                f"UPDATE {table} SET v = ?, doc = ? WHERE id = ?",
                (updated["_version"], body, doc_id),
            )

        try:
            await self._write(write)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(f"{collection}: {exc}") from exc
        return updated

    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> None:
        def write(conn: sqlite3.Connection) -> int:
            table = self._store._ensure_table(conn, collection)
            if expected_version is None:
                return conn.execute(f"DELETE FROM {table} WHERE id = ?", (doc_id,)).rowcount
            return conn.execute(
                f"DELETE FROM {table} WHERE id = ? AND v = ?", (doc_id, expected_version)
            ).rowcount

        if await self._write(write) == 0:
            if expected_version is not None:
                raise VersionConflict(f"{collection}/{doc_id} changed or is gone")
            raise NotFound(f"{collection}/{doc_id}")

    async def next_value(self, counter: str, scope: str) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO _counters(name, scope, value) VALUES (?, ?, 1) "
                "ON CONFLICT(name, scope) DO UPDATE SET value = value + 1",
                (counter, scope),
            )
            row = conn.execute(
                "SELECT value FROM _counters WHERE name = ? AND scope = ?", (counter, scope)
            ).fetchone()
            return int(row[0])

        return await self._write(bump)

    def emit(self, envelope: Envelope) -> None:
        self.events.append(envelope)
