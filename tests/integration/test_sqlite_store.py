"""What only the SQLite adapter does: bulk inserts, reads tried on the loop, cheap counts."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from casemesh.store import sqlite as sqlite_module
from casemesh.store.filters import And, Contains, Eq, Exists, Has, In, Not, Or, Range
from casemesh.store.port import DuplicateKey, Index
from casemesh.store.sqlite import SqliteStore
from casemesh.store.sqlite_counting import _index_fields, count_rows, read_indexes
from casemesh.store.sqlite_query import counting_terms, covering_index, filter_fields


@pytest.fixture
async def sqlite_store(tmp_path):
    store = SqliteStore(tmp_path / "store.db")
    try:
        yield store
    finally:
        await store.close()


def people(count: int) -> list[dict]:
    return [
        {"id": f"p{n:03d}", "ws": "a" if n % 3 else "b", "age": n % 7, "name": f"Name {n}"}
        for n in range(count)
    ]


async def test_insert_many_writes_version_one_documents(sqlite_store):
    async with sqlite_store.transaction() as tx:
        assert await tx.insert_many("people", people(50)) == 50
    assert await sqlite_store.count("people") == 50
    assert await sqlite_store.get("people", "p007") == {**people(50)[7], "_version": 1}


async def test_insert_many_with_a_duplicate_rolls_the_transaction_back(sqlite_store):
    await sqlite_store.insert("people", people(1)[0])
    with pytest.raises(DuplicateKey):
        async with sqlite_store.transaction() as tx:
            await tx.insert("people", {"id": "other"})
            await tx.insert_many("people", people(5))  # p000 exists
    assert await sqlite_store.count("people") == 1
    assert await sqlite_store.get("people", "other") is None


async def test_slow_reads_move_to_the_reader_thread_with_the_same_answer(sqlite_store, monkeypatch):
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("people", people(300))
    where = And(Eq("ws", "a"), Contains("name", "1"))
    quick = await sqlite_store.find("people", where), await sqlite_store.count("people", where)
    on_loop = []
    real = sqlite_module.SqliteStore._run

    async def counting_run(pool, fn):
        on_loop.append(pool)
        return await real(pool, fn)

    # No time at all on the loop: every read is interrupted and redone in the thread.
    monkeypatch.setattr(sqlite_module, "QUICK_READ_SECONDS", -1.0)
    monkeypatch.setattr(sqlite_module.SqliteStore, "_run", staticmethod(counting_run))
    moved = await sqlite_store.find("people", where), await sqlite_store.count("people", where)
    assert moved == quick
    assert on_loop.count(sqlite_store._reader_thread) == 2


async def test_a_read_of_a_table_not_seen_yet_goes_to_the_thread_and_works(sqlite_store):
    assert await sqlite_store.get("never_written", "x") is None
    assert await sqlite_store.count("never_written") == 0
    assert "c_never_written" in sqlite_store._tables


async def test_reads_on_the_loop_see_each_commit(sqlite_store):
    await sqlite_store.insert("people", {"id": "x", "n": 0})
    for n in range(1, 20):
        await sqlite_store.update("people", "x", {"n": n})
        assert (await sqlite_store.get("people", "x"))["n"] == n


async def test_concurrent_transactions_stay_serial(sqlite_store):
    await sqlite_store.insert("people", {"id": "x", "n": 0})

    async def bump() -> None:
        async with sqlite_store.transaction() as tx:
            doc = await tx.get("people", "x")
            await asyncio.sleep(0)  # let the others try to get in
            await tx.update("people", "x", {"n": doc["n"] + 1})

    await asyncio.gather(*(bump() for _ in range(40)))
    assert (await sqlite_store.get("people", "x"))["n"] == 40


def statements(path, table: str, where) -> list[str]:
    with sqlite3.connect(path) as conn:
        conn.create_function("cm_icontains", 2, lambda a, b: 0)
        return [sql for sql, _ in count_rows(conn, table, where, read_indexes(conn, table))[1]]


class CommitHeldOpen:
    """The writer connection, except that COMMIT waits for ``release`` once it began."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.committing = threading.Event()
        self.release = threading.Event()

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            self.committing.set()
            self.release.wait(10)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


async def test_a_caller_cancelled_during_commit_sees_its_cancellation(sqlite_store):
    """A COMMIT already running in the writer thread finishes; the caller must get
    CancelledError, not a failed ROLLBACK dressed as StoreUnavailable (which once
    let a background loop swallow its cancellation and hang shutdown)."""
    await sqlite_store.insert("people", people(1)[0])
    held = CommitHeldOpen(sqlite_store._writer)
    sqlite_store._writer = held

    async def write() -> None:
        async with sqlite_store.transaction() as tx:
            await tx.insert("people", people(2)[1])

    task = asyncio.create_task(write())
    assert await asyncio.to_thread(held.committing.wait, 10)
    task.cancel()
    held.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await sqlite_store.get("people", "p001") is not None  # the COMMIT went through
    async with sqlite_store.transaction() as tx:  # and the store still writes
        await tx.insert("people", people(3)[2])
    assert await sqlite_store.count("people") == 3


async def test_a_failed_body_rolls_back_and_keeps_its_own_error(sqlite_store):
    with pytest.raises(KeyError):
        async with sqlite_store.transaction() as tx:
            await tx.insert("people", people(1)[0])
            raise KeyError("boom")
    assert await sqlite_store.count("people") == 0


async def test_count_uses_an_index_holding_every_field_it_reads(sqlite_store, tmp_path):
    await sqlite_store.ensure_indexes(
        "people", [Index(("ws", "name")), Index(("ws", "age", "name"))]
    )
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("people", people(90))
    where = And(Eq("ws", "a"), Range("age", gte=3))
    ran = statements(tmp_path / "store.db", "c_people", where)
    assert len(ran) == 1 and "INDEXED BY c_people_ix_ws_age_name" in ran[0]
    assert await sqlite_store.count("people", where) == len(
        await sqlite_store.find("people", where)
    )
    # Has reads the document itself: no hint.
    ran = statements(tmp_path / "store.db", "c_people", And(Eq("ws", "a"), Has("tags", "x")))
    assert "INDEXED BY" not in ran[0]


async def test_count_subtracts_when_one_value_holds_almost_everywhere(sqlite_store, tmp_path):
    await sqlite_store.ensure_indexes("people", [Index(("ws", "age", "name"))])
    docs = [{"id": f"a{n}", "ws": "main", "age": n % 5} for n in range(3000)]
    docs += [{"id": f"b{n}", "ws": "other", "age": 1} for n in range(20)]
    docs += [
        {"id": "c1", "ws": None},
        {"id": "c2"},
        {"id": "c3", "ws": 7},
        {"id": "c4", "ws": True},
    ]
    docs += [{"id": "c5", "ws": "main"}, {"id": "c6", "ws": "main", "age": None}]
    docs += [{"id": "c7", "ws": "main", "age": "1"}, {"id": "c8", "ws": "main", "age": 1.0}]
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("people", docs)
    filters = [
        Eq("ws", "main"),
        And(Eq("ws", "main"), Not(Eq("age", 1))),
        And(Not(Eq("age", 1)), Eq("ws", "main")),
        And(Eq("ws", "main"), Eq("age", 1), Not(Eq("name", "x"))),
        Eq("ws", "other"),  # a small share: counted directly
        And(Eq("ws", "other"), Not(Eq("age", 1))),
        Eq("ws", 7),
        Eq("ws", True),
    ]
    for where in filters:
        expected = len(await sqlite_store.find("people", where))
        assert await sqlite_store.count("people", where) == expected, where
    path = tmp_path / "store.db"
    subtracted = statements(path, "c_people", And(Eq("ws", "main"), Not(Eq("age", 1))))
    assert subtracted[0] == "SELECT count(*) FROM c_people" and len(subtracted) == 5
    direct = statements(path, "c_people", Eq("ws", "other"))
    assert direct[-1].startswith("SELECT count(*) FROM c_people INDEXED BY")  # gave up


async def test_count_still_answers_when_its_index_was_dropped_behind_its_back(
    sqlite_store, tmp_path
):
    await sqlite_store.ensure_indexes("people", [Index(("ws", "age"))])
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("people", people(30))
    where = And(Eq("ws", "a"), Not(Eq("age", 3)))
    expected = await sqlite_store.count("people", where)
    with sqlite3.connect(tmp_path / "store.db") as other:
        other.execute("DROP INDEX c_people_ix_ws_age")
    assert await sqlite_store.count("people", where) == expected
    assert await sqlite_store.count("people", where) == expected


def test_filter_fields_names_what_an_index_could_answer():
    assert filter_fields(None) == set()
    assert filter_fields(And(Eq("a", 1), Not(Eq("b", 2)), Or(Range("c", gt=1), In("d", (1,))))) == {
        "a",
        "b",
        "c",
        "d",
    }
    assert filter_fields(Contains("t", "x")) == {"t"}
    assert filter_fields(And(Eq("a", 1), Has("tags", "x"))) is None
    assert filter_fields(Exists("a")) is None
    assert filter_fields(Eq("id", "x")) is None


def test_covering_index_prefers_the_longest_seek_then_the_narrowest():
    indexes = [
        ("ix_ws_upd", ("ws", "updated")),
        ("ix_ws_status_n", ("ws", "status", "n")),
        ("ix_ws_status", ("ws", "status")),
        ("ix_ws_pro_n", ("ws", "pro", "n")),
    ]
    not_deleted = And(Eq("ws", "w"), Not(Eq("status", "DELETED")))
    assert covering_index(not_deleted, indexes) == "ix_ws_status"
    assert covering_index(And(Eq("ws", "w"), Eq("status", "TO_DO")), indexes) == "ix_ws_status"
    # A pro filter: no index holds both pro and status.
    assert covering_index(And(not_deleted, Eq("pro", "p")), indexes) is None
    # A covering index that would scan where another seeks deeper is not forced.
    assert covering_index(And(Eq("ws", "w"), Eq("pro", "p"), Range("n", gt=1)), indexes) == (
        "ix_ws_pro_n"
    )
    assert (
        covering_index(And(Eq("ws", "w"), Eq("pro", "p"), Not(Eq("status", "x"))), indexes) is None
    )
    assert covering_index(None, indexes) is None


def test_index_fields_reads_back_what_ensure_indexes_wrote():
    sql = (
        "CREATE INDEX c_x_ix ON c_x (json_extract(doc, '$.ws'), "
        "json_extract(doc, '$.current.usr_uid'), id)"
    )
    assert _index_fields("c_x_ix", sql) == ("c_x_ix", ("ws", "current.usr_uid", "id"))
    assert _index_fields("other", "CREATE INDEX other ON c_x (lower(doc))") is None


def test_counting_terms_only_for_equalities_and_one_negation():
    indexes = [("ix_ws_status", ("ws", "status")), ("ix_ws_pro", ("ws", "pro"))]
    terms = counting_terms("t", And(Eq("ws", "w"), Not(Eq("status", "D"))), indexes)
    assert [t.sign for t in terms] == [1, -1, -1, -1, -1]
    assert [t.probe for t in terms] == [False, True, True, True, False]
    assert counting_terms("t", And(Eq("ws", "w"), Contains("status", "D")), indexes) is None
    assert counting_terms("t", And(Eq("ws", "w"), Eq("pro", "p")), indexes) is None
    assert counting_terms("t", And(Eq("ws", "w"), Not(Eq("other", 1))), indexes) is None
    assert counting_terms("t", Eq("ws", None), indexes) is None
    both = counting_terms("t", And(Eq("ws", "w"), Eq("pro", "p"), Not(Eq("status", 1))), indexes)
    assert both is None  # no index leads with ws, pro and status
