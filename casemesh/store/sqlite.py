"""SQLite adapter of the document-store port: the embedded default.

One file per service, WAL mode. Each collection is a table ``c_<name>(id, v,
doc)`` with the document as JSON. Writes go through one writer connection
(SQLite has one writer anyway), serialised by an asyncio lock for the length
of a transaction; plain reads use a second connection so they never see a
transaction half-way.

``BEGIN IMMEDIATE`` (which may wait for another process's write lock) and
``COMMIT`` (which may checkpoint the WAL) run in the writer's thread. The
statements in between — single-document reads and writes by primary key,
each a few tens of microseconds once the transaction holds the write lock —
run directly on the event loop: a hop to the thread and back costs far more
than the statement, and it happens while the write lock is held, so under
load those hops, not SQLite, set how many transactions per second a service
can commit.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from casemesh.events import Envelope
from casemesh.store.documents import apply_changes, check_new_document
from casemesh.store.filters import Filter, Sort
from casemesh.store.port import (
    Document,
    DocumentStore,
    DuplicateKey,
    Index,
    NotFound,
    OutboxRecord,
    StoreError,
    StoreUnavailable,
    Transaction,
    VersionConflict,
    check_collection,
)
from casemesh.store.sqlite_counting import IndexFields, count_rows, read_indexes
from casemesh.store.sqlite_query import (
    column,
    find_statement,
    icontains,
)

T = TypeVar("T")

# How long a read may run on the event loop before it is interrupted and
# redone in the reader's thread, and how often (in SQLite VM steps) to look.
QUICK_READ_SECONDS = 0.002
PROGRESS_STEPS = 1000


def _connect(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.create_function("cm_icontains", 2, icontains, deterministic=True)
    return conn


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """SQLite's operational errors (locked, I/O, cannot open) as StoreUnavailable."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise
        raise StoreUnavailable(str(exc)) from exc
    except OSError as exc:  # the data folder cannot be created or opened
        raise StoreUnavailable(str(exc)) from exc


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _connect_quick(path: str) -> sqlite3.Connection:
    """The loop's read connection: never waits for a lock, never runs long (see _on_reader)."""
    conn = _connect(path)
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA query_only=1")
    return conn


def _row_to_doc(row: tuple[str, int, str]) -> Document:
    doc = json.loads(row[2])
    doc["id"] = row[0]
    doc["_version"] = row[1]
    return doc


def _dump(doc: Document) -> str:
    body = {k: v for k, v in doc.items() if k != "_version"}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class SqliteStore(DocumentStore):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-w")
        self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        # Reads tried on the event loop first; a progress handler interrupts
        # one that runs past the deadline, and it is redone in the thread.
        self._quick: sqlite3.Connection | None = None
        self._quick_deadline = 0.0
        self._write_lock = asyncio.Lock()
        self._tables: set[str] = set()
        # table -> (index name, fields) of its expression indexes, for count's hint.
        self._index_fields: dict[str, IndexFields] = {}
        self._commit_listeners: list[Callable[[], None]] = []

    # -- plumbing -----------------------------------------------------------

    async def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            self._writer = await self._run(self._writer_thread, lambda: _connect(self.path))
            await self._run(self._writer_thread, lambda: self._create_base(self._writer))
        conn = self._writer
        return await self._run(self._writer_thread, lambda: fn(conn))

    async def _on_reader(
        self, fn: Callable[[sqlite3.Connection], T], collection: str | None = None
    ) -> T:
        """Run the read ``fn``: on the loop if it is quick, else in the reader's thread.

        ``collection`` names the table ``fn`` reads; until the store has seen
        that table, the read goes to the thread (it may have to create it).
        """
        if self.path == ":memory:":
            return await self._on_writer(fn)  # a second in-memory connection is another db
        if self._writer is None:
            await self._on_writer(lambda c: None)
        if self._reader is None:
            self._reader = await self._run(self._reader_thread, lambda: _connect(self.path))
            quick = await self._run(self._reader_thread, lambda: _connect_quick(self.path))
            quick.set_progress_handler(self._past_quick_deadline, PROGRESS_STEPS)
            self._quick = quick
        if self._quick is not None and (collection is None or "c_" + collection in self._tables):
            self._quick_deadline = time.perf_counter() + QUICK_READ_SECONDS
            try:
                return fn(self._quick)
            except sqlite3.OperationalError:
                pass  # too slow for the loop (interrupted), or locked: the thread does it
        conn = self._reader
        return await self._run(self._reader_thread, lambda: fn(conn))

    def _past_quick_deadline(self) -> bool:
        return time.perf_counter() > self._quick_deadline

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        with _mapped_errors():
            return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer connection now, on the loop (a transaction is open)."""
        conn = self._writer
        assert conn is not None, "no transaction is open"
        with _mapped_errors():
            return fn(conn)

    @staticmethod
    def _create_base(conn: sqlite3.Connection | None) -> None:
        assert conn is not None
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _outbox ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, envelope TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _counters ("
            "name TEXT NOT NULL, scope TEXT NOT NULL, value INTEGER NOT NULL, "
            "PRIMARY KEY (name, scope))"
        )

    def _ensure_table(self, conn: sqlite3.Connection, collection: str) -> str:
        table = "c_" + check_collection(collection)
        if table not in self._tables:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "id TEXT PRIMARY KEY, v INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
            self._tables.add(table)
        return table

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit that wrote outbox events."""
        self._commit_listeners.append(listener)

    # -- transactions -------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            await self._on_writer(lambda c: c.execute("BEGIN IMMEDIATE"))
            tx = _SqliteTransaction(self)
            try:
                yield tx
                if tx.events:
                    rows = [(e.model_dump_json(),) for e in tx.events]
                    self._in_transaction(
                        lambda c: c.executemany("INSERT INTO _outbox(envelope) VALUES (?)", rows)
                    )
                await self._on_writer(lambda c: c.execute("COMMIT"))
            except BaseException:
                # Runs after whatever the writer thread still had queued; a COMMIT
                # whose caller was cancelled may have gone through, so roll back
                # only an open transaction, and never hide the original error.
                with suppress(StoreError):
                    await asyncio.shield(self._on_writer(_rollback_if_open))
                self._tables.clear()  # tables this transaction created are gone again
                raise
        if tx.events:
            for listener in self._commit_listeners:
                listener()

    # -- reads --------------------------------------------------------------

    async def get(self, collection: str, doc_id: str) -> Document | None:
        def read(conn: sqlite3.Connection) -> Document | None:
            table = self._ensure_table(conn, collection)
            row = conn.execute(f"SELECT id, v, doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
            return _row_to_doc(row) if row else None

        return await self._on_reader(read, collection)

    async def find(
        self,
        collection: str,
        where: Filter | None = None,
        *,
        sort: Sequence[Sort] = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[Document]:
        table = "c_" + check_collection(collection)
        sql, params = find_statement(table, where, sort, skip, limit)

        def read(conn: sqlite3.Connection) -> list[Document]:
            self._ensure_table(conn, collection)
            return [_row_to_doc(r) for r in conn.execute(sql, params).fetchall()]

        return await self._on_reader(read, collection)

    async def count(self, collection: str, where: Filter | None = None) -> int:
        table = "c_" + check_collection(collection)

        def read(conn: sqlite3.Connection) -> int:
            self._ensure_table(conn, collection)
            indexes = self._index_fields.get(table)
            if indexes is None:
                indexes = self._index_fields[table] = read_indexes(conn, table)
            try:
                return count_rows(conn, table, where, indexes)[0]
            except sqlite3.OperationalError as exc:
                if not indexes or "interrupted" in str(exc):
                    raise
                # An index went (dropped by hand?): forget what we knew, count without them.
                self._index_fields.pop(table, None)
                return count_rows(conn, table, where, [])[0]

        return await self._on_reader(read, collection)

    async def ensure_indexes(self, collection: str, indexes: Sequence[Index]) -> None:
        def create(conn: sqlite3.Connection) -> None:
            table = self._ensure_table(conn, collection)
            for index in indexes:
                cols = ", ".join(column(f) for f in index.fields)
                unique = "UNIQUE " if index.unique else ""
                name = f"{table}_{index.index_name}"
                conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} ({cols})")
            self._index_fields.pop(table, None)  # read again, with these

        async with self._write_lock:
            try:
                await self._on_writer(create)
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(str(exc)) from exc

    # -- outbox -------------------------------------------------------------

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        def read(conn: sqlite3.Connection) -> list[OutboxRecord]:
            rows = conn.execute(
                "SELECT seq, envelope FROM _outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
            return [OutboxRecord(r[0], Envelope.model_validate_json(r[1])) for r in rows]

        return await self._on_reader(read)

    async def outbox_mark_published(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        marks = [(s,) for s in seqs]
        async with self._write_lock:
            await self._on_writer(
                lambda c: c.executemany("DELETE FROM _outbox WHERE seq = ?", marks)
            )

    async def ping(self) -> None:
        await self._on_reader(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        async with self._write_lock:
            for conn, pool in (
                (self._quick, self._reader_thread),
                (self._reader, self._reader_thread),
                (self._writer, self._writer_thread),
            ):
                if conn is not None:
                    await asyncio.get_running_loop().run_in_executor(pool, conn.close)
            self._quick = self._reader = self._writer = None
        self._reader_thread.shutdown(wait=True)
        self._writer_thread.shutdown(wait=True)


class _SqliteTransaction(Transaction):
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.events: list[Envelope] = []

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._store._in_transaction(fn)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        def read(conn: sqlite3.Connection) -> Document | None:
            table = self._store._ensure_table(conn, collection)
            row = conn.execute(f"SELECT id, v, doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
            return _row_to_doc(row) if row else None

        return await self._write(read)

    async def insert(self, collection: str, doc: Document) -> Document:
        doc_id = check_new_document(doc)
        body = _dump(doc)

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
        rows = [(check_new_document(doc), _dump(doc)) for doc in docs]

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
        updated = apply_changes(current, changes)
        updated["_version"] = current["_version"] + 1
        body = _dump(updated)

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
