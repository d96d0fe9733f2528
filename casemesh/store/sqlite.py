"""SQLite adapter of the document-store port: the embedded default.

One file per service, WAL mode. Each collection is a table ``c_<name>(id, v,
doc)`` with the document as JSON. Writes go through one writer connection
(SQLite has one writer anyway), serialised by an asyncio lock for the length
of a transaction; plain reads use a second connection so they never see a
transaction half-way.

``BEGIN IMMEDIATE`` is tried on the loop without waiting (another process
holding the write lock sends it to the writer's thread, which waits). Once it
holds the lock, the statements (reads and writes by primary key, tens of
microseconds) and the ``COMMIT`` run on the loop: a hop to the thread costs
more. A WAL commit at ``synchronous=NORMAL`` does not fsync, and the writer
never checkpoints: ``sqlite_checkpoint`` does, in a thread of its own.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from casemesh.events import Envelope
from casemesh.store.filters import Filter, Sort
from casemesh.store.port import (
    Document,
    DocumentStore,
    DuplicateKey,
    Index,
    OutboxRecord,
    StoreError,
    StoreUnavailable,
    Transaction,
    check_collection,
)
from casemesh.store.sqlite_checkpoint import Checkpoints
from casemesh.store.sqlite_plan import (
    CountHints,
    Schema,
    count_rows,
    find_rows,
    page_rows,
    read_schema,
)
from casemesh.store.sqlite_query import column, icontains
from casemesh.store.sqlite_side import create_registry, create_side, fold_or_null, side_of
from casemesh.store.sqlite_transaction import SqliteTransaction, row_to_doc

T = TypeVar("T")

# How much CPU a read may use on the event loop before it is interrupted and
# redone in the reader's thread, how long it may take in all (disk waits, and
# the GIL: SQLite releases it while it steps, so other threads may hold it),
# and how often (in SQLite VM steps) to look.
QUICK_READ_SECONDS = 0.002
QUICK_READ_WALL_SECONDS = 0.02
PROGRESS_STEPS = 1000
BUSY_TIMEOUT_MS = 30000
EMITTED_KEPT = 10_000  # committed events kept in memory for the outbox relay
# A query interrupted on the loop goes straight to the thread for this long.
SLOW_READ_SECONDS = 60.0
SLOW_READS_KEPT = 1024


def _connect(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.create_function("cm_icontains", 2, icontains, deterministic=True)
    conn.create_function("cm_fold", 1, fold_or_null, deterministic=True)
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


def _key(kind: str, table: str, where: Filter | None) -> object:
    """A read's name for the slow-read memory, or None when its filter cannot be a key."""
    try:
        hash(where)
    except TypeError:
        return None
    return (kind, table, where)


def _write_outbox(conn: sqlite3.Connection, events: list[Envelope]) -> list[int]:
    """Insert the events in the outbox; their sequence numbers."""
    seqs = []
    for event in events:
        text = event.model_dump_json()
        cursor = conn.execute("INSERT INTO _outbox(envelope) VALUES (?)", (text,))
        seqs.append(int(cursor.lastrowid or 0))
    return seqs


def _connect_quick(path: str) -> sqlite3.Connection:
    """The loop's read connection: never waits for a lock, never runs long (see _on_reader)."""
    conn = _connect(path)
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA query_only=1")
    return conn


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
        # CPU time of the loop's thread (time.thread_time); None until the first look.
        self._quick_deadline: float | None = 0.0
        self._quick_wall_deadline = 0.0
        self._write_lock = asyncio.Lock()
        self._tables: set[str] = set()
        # table -> its indexes and side indexes, for the query planner (sqlite_plan).
        self._schemas: dict[str, Schema] = {}
        # What counts just found: the find of a page that usually follows plans with it.
        self._counted = CountHints()
        self._commit_listeners: list[Callable[[int], None]] = []
        # seq -> event, for the outbox events this store committed and has not
        # seen published yet (the relay reads them back; parsing is the cost).
        self._emitted: dict[int, Envelope] = {}
        # (collection, filter) -> until when reads of it skip the loop (see _on_reader).
        self._slow: dict[object, float] = {}
        self._checkpoints = Checkpoints(self.path, self._write_lock)

    # -- plumbing -----------------------------------------------------------

    async def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            writer = await self._run(self._writer_thread, lambda: _connect(self.path))
            # Commits run on the loop: checkpoints are the Checkpoints' thread's job.
            writer.execute("PRAGMA wal_autocheckpoint=0")
            writer.execute("PRAGMA journal_size_limit=0")  # see sqlite_checkpoint
            self._writer = writer
            await self._run(self._writer_thread, lambda: self._create_base(self._writer))
        conn = self._writer
        return await self._run(self._writer_thread, lambda: fn(conn))

    async def _on_reader(
        self,
        fn: Callable[[sqlite3.Connection], T],
        collection: str | None = None,
        key: object = None,
    ) -> T:
        """Run the read ``fn``: on the loop if it is quick, else in the reader's thread.

        ``collection`` names the table ``fn`` reads; until the store has seen
        that table, the read goes to the thread (it may have to create it).
        ``key`` names the query (collection and filter): one that was too slow
        for the loop lately goes straight to the thread, instead of spending
        the loop's time budget again before it gets there.
        """
        reader = self._reader
        if reader is not None and key is not None and self._slow.get(key, 0.0) > time.monotonic():
            return await self._run(self._reader_thread, lambda: fn(reader))
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
            # The CPU clock is read only once the read reaches the progress
            # handler: under load, reading it for each short read showed up as
            # a tenth of the process's samples (it is a system call).
            self._quick_deadline = None
            self._quick_wall_deadline = time.perf_counter() + QUICK_READ_WALL_SECONDS
            try:
                return fn(self._quick)
            except sqlite3.OperationalError:
                # Too slow for the loop (interrupted), or locked: the thread does it.
                if key is not None:
                    self._slow[key] = time.monotonic() + SLOW_READ_SECONDS
                    while len(self._slow) > SLOW_READS_KEPT:
                        self._slow.pop(next(iter(self._slow)))
        conn = self._reader
        return await self._run(self._reader_thread, lambda: fn(conn))

    def _past_quick_deadline(self) -> bool:
        # CPU time, not wall time: under load the loop's thread waits for the
        # GIL between steps, and a wall-clock budget sent quick reads away.
        used = time.thread_time()
        if self._quick_deadline is None:  # first look, PROGRESS_STEPS in: the budget starts
            self._quick_deadline = used + QUICK_READ_SECONDS
        return used > self._quick_deadline or time.perf_counter() > self._quick_wall_deadline

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
        create_registry(conn)

    def _ensure_table(self, conn: sqlite3.Connection, collection: str) -> str:
        table = "c_" + check_collection(collection)
        if table not in self._tables:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "id TEXT PRIMARY KEY, v INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
            self._tables.add(table)
        return table

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(count)`` after each commit that wrote ``count`` outbox events."""
        self._commit_listeners.append(listener)

    # -- transactions -------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            if not self._begin_now():
                await self._on_writer(lambda c: c.execute("BEGIN IMMEDIATE"))
            tx = SqliteTransaction(self)
            try:
                yield tx
                seqs = self._in_transaction(lambda c: _write_outbox(c, tx.events))
                self._in_transaction(lambda c: c.execute("COMMIT"))  # on the loop: see top
                self._emitted.update(zip(seqs, tx.events, strict=True))
                while len(self._emitted) > EMITTED_KEPT:
                    self._emitted.pop(next(iter(self._emitted)))
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
                listener(len(tx.events))
        if self._checkpoints.committed():
            await asyncio.sleep(0)  # the checkpoint takes the write lock next

    def _begin_now(self) -> bool:
        """``BEGIN IMMEDIATE`` on the loop if the write lock is free; False if it must wait.

        Within this store the asyncio lock already serialises transactions, so
        the database's write lock is almost always free: taking it here saves
        a round trip to the writer's thread. If another process holds it, the
        thread waits for it instead (``busy_timeout``), off the loop.
        """
        conn = self._writer
        if conn is None:
            return False
        with _mapped_errors():
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                return False
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    # -- reads --------------------------------------------------------------

    async def get(self, collection: str, doc_id: str) -> Document | None:
        def read(conn: sqlite3.Connection) -> Document | None:
            table = self._ensure_table(conn, collection)
            row = conn.execute(f"SELECT id, v, doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
            return row_to_doc(row) if row else None

        return await self._on_reader(read, collection)

    def _schema(self, conn: sqlite3.Connection, table: str) -> Schema:
        schema = self._schemas.get(table)
        if schema is None:
            schema = self._schemas[table] = read_schema(conn, table)
        return schema

    def _planned(self, conn: sqlite3.Connection, table: str, plan: Callable[[Schema], T]) -> T:
        """``plan`` over one snapshot: a count made of several statements, or a count
        and its page, see the same documents."""
        # (":memory:" reads on the writer connection, which transactions share: as is.)
        began = conn is not self._writer and not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            try:
                return plan(self._schema(conn, table))
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc) or table not in self._schemas:
                    raise
                # An index went (dropped by hand?): forget what we knew, plan again.
                self._schemas.pop(table, None)
                return plan(self._schema(conn, table))
        finally:
            if conn is self._quick:
                # ending the read must not be interrupted
                self._quick_deadline = self._quick_wall_deadline = math.inf
            if began and conn.in_transaction:
                conn.execute("COMMIT")

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

        total = self._counted.get(table, where)

        def read(conn: sqlite3.Connection) -> list[Document]:
            self._ensure_table(conn, collection)
            rows, _ = self._planned(
                conn,
                table,
                lambda schema: find_rows(conn, table, where, schema, sort, skip, limit, total),
            )
            return [row_to_doc(r) for r in rows]

        return await self._on_reader(read, collection, _key("find", table, where))

    async def count(self, collection: str, where: Filter | None = None) -> int:
        table = "c_" + check_collection(collection)

        def read(conn: sqlite3.Connection) -> int:
            self._ensure_table(conn, collection)
            return self._planned(
                conn, table, lambda schema: count_rows(conn, table, where, schema)[0]
            )

        total = await self._on_reader(read, collection, _key("count", table, where))
        self._counted.put(table, where, total)
        return total

    async def find_page(
        self,
        collection: str,
        where: Filter | None = None,
        *,
        sort: Sequence[Sort] = (),
        skip: int = 0,
        limit: int,
    ) -> tuple[int, list[Document]]:
        table = "c_" + check_collection(collection)

        hint = self._counted.get(table, where)

        def both(conn: sqlite3.Connection, schema: Schema) -> tuple[int, list]:
            found = None
            if limit > 0:
                found = page_rows(conn, table, where, schema, sort, skip, limit, hint)
            if found is not None:
                return found[0], found[1]
            # No one pass answers both: the count, then the page it helps plan.
            total = count_rows(conn, table, where, schema)[0]
            if limit == 0:
                return total, []
            rows, _ = find_rows(conn, table, where, schema, sort, skip, limit, total)
            return total, rows

        def read(conn: sqlite3.Connection) -> tuple[int, list]:
            self._ensure_table(conn, collection)
            return self._planned(conn, table, lambda schema: both(conn, schema))

        total, rows = await self._on_reader(read, collection, _key("page", table, where))
        self._counted.put(table, where, total)
        return total, [row_to_doc(r) for r in rows]

    async def ensure_indexes(self, collection: str, indexes: Sequence[Index]) -> None:
        """Create the indexes (idempotent); side ones are filled from the documents.

        A new multikey, text or counted index reads every document of the
        collection once, in one transaction (up to a few minutes for a
        million cases).
        """

        def create(conn: sqlite3.Connection) -> None:
            table = self._ensure_table(conn, collection)
            for index in indexes:
                if index.kind != "plain":
                    continue
                cols = ", ".join(column(f) for f in index.fields)
                unique = "UNIQUE " if index.unique else ""
                name = f"{table}_{index.index_name}"
                conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} ({cols})")
            sides = [side_of(table, index) for index in indexes if index.kind != "plain"]
            if sides:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for side in sides:
                        create_side(conn, side)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback_if_open(conn)
                    raise
            self._schemas.pop(table, None)  # read again, with these

        async with self._write_lock:
            try:
                await self._on_writer(create)
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(str(exc)) from exc
            finally:
                self._tables.clear()  # a rolled-back side index may have taken a table with it
        self._checkpoints.look()  # a new side index may have filled the WAL

    # -- outbox -------------------------------------------------------------

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        def read(conn: sqlite3.Connection) -> list[OutboxRecord]:
            rows = conn.execute(
                "SELECT seq, envelope FROM _outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
            # Events this store committed are still at hand: no need to parse them again.
            return [
                OutboxRecord(seq, self._emitted.get(seq) or Envelope.model_validate_json(text))
                for seq, text in rows
            ]

        return await self._on_reader(read)

    async def outbox_mark_published(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        marks = [(s,) for s in seqs]
        for seq in seqs:
            self._emitted.pop(seq, None)
        async with self.transaction():  # a transaction of its own: begun and committed on the loop
            self._in_transaction(
                lambda c: c.executemany("DELETE FROM _outbox WHERE seq = ?", marks)
            )

    async def ping(self) -> None:
        await self._on_reader(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._checkpoints.close()
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
