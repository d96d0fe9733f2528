"""What only the SQLite adapter does: bulk inserts, reads tried on the loop, cheap counts."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from casemesh.events import Envelope
from casemesh.store import sqlite as sqlite_module
from casemesh.store.filters import And, Contains, Eq, Exists, Has, In, Not, Or, Range, Sort
from casemesh.store.port import DuplicateKey, Index
from casemesh.store.sqlite import SqliteStore
from casemesh.store.sqlite_counting import (
    _index_fields,
    counting_terms,
    covering_index,
    filter_fields,
)
from casemesh.store.sqlite_plan import count_rows, find_rows, read_schema
from casemesh.store.sqlite_query import icontains


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
    # No time at all on the loop: every read is interrupted and redone in the thread.
    monkeypatch.setattr(sqlite_module, "QUICK_READ_SECONDS", -1.0)
    on_loop = counting_pools(monkeypatch)
    moved = await sqlite_store.find("people", where), await sqlite_store.count("people", where)
    assert moved == quick
    assert on_loop.count(sqlite_store._reader_thread) == 2


async def test_a_quick_read_is_timed_by_cpu_not_by_waits(sqlite_store, monkeypatch):
    """Waiting (for the GIL, say) does not spend a quick read's budget: only CPU does."""
    await sqlite_store.insert("people", people(1)[0])
    await sqlite_store.get("people", "p000")  # opens the quick connection

    def nap(n: int) -> int:
        time.sleep(0.0015)  # 2 naps, 3 ms asleep: past 2 ms, well inside the 20 ms wall budget
        return n

    sqlite_store._quick.create_function("nap", 1, nap)
    sqlite_store._reader.create_function("nap", 1, nap)
    counted = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) "
        "SELECT count(CASE WHEN n % 500 = 0 THEN nap(n) ELSE n END) FROM r"
    )
    pools = counting_pools(monkeypatch)
    found = await sqlite_store._on_reader(lambda c: c.execute(counted).fetchone()[0])
    assert found == 1000
    assert pools == []  # it stayed on the loop
    # The wall-clock guard still holds: with none left, the read goes to the thread.
    monkeypatch.setattr(sqlite_module, "QUICK_READ_WALL_SECONDS", -1.0)
    assert await sqlite_store._on_reader(lambda c: c.execute(counted).fetchone()[0]) == 1000
    assert pools == [sqlite_store._reader_thread]


async def test_a_short_read_never_reads_the_cpu_clock(sqlite_store, monkeypatch):
    """The clock is a system call: only a read that reaches the progress handler pays it."""
    await sqlite_store.insert("people", people(1)[0])
    await sqlite_store.get("people", "p000")  # opens the quick connection
    looks = []
    real_thread_time = time.thread_time

    def thread_time() -> float:
        looks.append(1)
        return real_thread_time()

    monkeypatch.setattr(sqlite_module.time, "thread_time", thread_time)
    pools = counting_pools(monkeypatch)
    assert (await sqlite_store.get("people", "p000"))["id"] == "p000"
    assert looks == [] and pools == []
    counted = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 500) "
        "SELECT count(n) FROM r"
    )
    assert await sqlite_store._on_reader(lambda c: c.execute(counted).fetchone()[0]) == 500
    assert looks and pools == []  # a longer read looks, and stays on the loop within budget


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
        return [sql for sql, _ in count_rows(conn, table, where, read_schema(conn, table))[1]]


def counting_pools(monkeypatch) -> list:
    """Patch the store's thread hop to note which thread pool each call went to."""
    pools: list = []
    real = sqlite_module.SqliteStore._run

    async def counting_run(pool, fn):
        pools.append(pool)
        return await real(pool, fn)

    monkeypatch.setattr(sqlite_module.SqliteStore, "_run", staticmethod(counting_run))
    return pools


async def test_a_transaction_begins_and_commits_on_the_loop(sqlite_store, monkeypatch):
    await sqlite_store.insert("people", people(1)[0])  # opens the writer connection
    pools = counting_pools(monkeypatch)
    async with sqlite_store.transaction() as tx:
        await tx.insert("people", people(2)[1])
        tx.emit(Envelope(type="test.kept", version=1, source="t", workspace="w", data={}))
    await sqlite_store.outbox_mark_published([r.seq for r in await sqlite_store.outbox_pending()])
    assert sqlite_store._writer_thread not in pools  # no hop to the writer's thread
    assert await sqlite_store.count("people") == 2
    assert await sqlite_store.outbox_pending() == []


async def test_the_writer_never_checkpoints_and_a_grown_wal_is_checkpointed_aside(
    tmp_path, monkeypatch
):
    from casemesh.store import sqlite_checkpoint

    monkeypatch.setattr(sqlite_checkpoint, "WAL_CHECKPOINT_BYTES", 256 * 1024)
    monkeypatch.setattr(sqlite_checkpoint, "COMMITS_PER_LOOK", 1)
    store = SqliteStore(tmp_path / "store.db")
    try:
        await store.insert("people", people(1)[0])
        assert store._writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        before = (tmp_path / "store.db").stat().st_size
        assert before < 50_000
        padding = "x" * 8000
        for n in range(60):  # ~480 KiB of WAL: past the threshold
            async with store.transaction() as tx:
                await tx.insert("people", {"id": f"big{n}", "pad": padding})
        for _ in range(100):
            if store._checkpoints.done:
                break
            await asyncio.sleep(0.05)
        assert store._checkpoints.done >= 1
        # Pages reached the database file itself (the first one at 256 KiB of WAL),
        # where before it held a few pages at most.
        assert (tmp_path / "store.db").stat().st_size > before + 100_000
        assert await store.count("people") == 61
    finally:
        await store.close()


@pytest.mark.parametrize("between", ["a request's other awaits", "nothing (a bulk load)"])
async def test_a_steady_stream_of_commits_keeps_the_wal_small(tmp_path, monkeypatch, between):
    """Checkpoints alongside unbroken commits never caught up: the WAL grew without end.

    A loop that awaits nothing but the store also took the write lock back
    before the checkpoint task ever ran.
    """
    from casemesh.store import sqlite_checkpoint

    monkeypatch.setattr(sqlite_checkpoint, "WAL_CHECKPOINT_BYTES", 256 * 1024)
    store = SqliteStore(tmp_path / "store.db")
    wal = tmp_path / "store.db-wal"
    padding = "x" * 2000
    try:
        for n in range(1500):  # ~3 MiB of pages written, at 12 times the threshold
            async with store.transaction() as tx:
                await tx.insert("people", {"id": f"p{n}", "pad": padding})
            if between != "nothing (a bulk load)":
                await asyncio.sleep(0)  # as between requests
        assert store._checkpoints.done >= 3
        assert wal.stat().st_size < 1024 * 1024
        assert await store.count("people") == 1500
    finally:
        await store.close()


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


# -- multikey and text indexes: how SQLite answers with them ------------------------------

SIDE_INDEXES = [
    Index(("ws", "n")),
    Index(("ws", "tags", "kind", "n"), array="tags"),
    Index(("ws", "kind", "n", "title"), text=("title",)),
]


def tagged(count: int) -> list[dict]:
    return [
        {
            "id": f"t{n:04d}",
            "ws": "a",
            "kind": ("open", "gone")[n % 2],
            "n": n,
            "tags": [f"u{n % 7}", f"u{n % 3}"],
            "title": f"Order {n} for {'Initech' if n % 50 == 0 else 'Acme'}",
        }
        for n in range(count)
    ]


def plans(path, table: str, where, sort=(), limit=None) -> tuple[list[str], list[str]]:
    """The statements count and find ran for ``where`` (straight on the file)."""
    with sqlite3.connect(path) as conn:
        conn.create_function("cm_icontains", 2, icontains)
        schema = read_schema(conn, table)
        counted = [sql for sql, _ in count_rows(conn, table, where, schema)[1]]
        found = [sql for sql, _ in find_rows(conn, table, where, schema, sort, 0, limit)[1]]
    return counted, found


async def test_counts_over_side_indexes_read_no_document(sqlite_store, tmp_path):
    await sqlite_store.ensure_indexes("things", SIDE_INDEXES)
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("things", tagged(2000))
    path = tmp_path / "store.db"
    has = And(Eq("ws", "a"), Has("tags", "u1"), Not(Eq("kind", "gone")))
    counted, _ = plans(path, "c_things", has)
    assert counted == [counted[0]] and "s_things_mx_ws_tags_kind_n" in counted[0]
    assert "doc" not in counted[0]
    text = And(Eq("ws", "a"), Contains("title", "INITECH"), Not(Eq("kind", "gone")))
    counted, found = plans(path, "c_things", text, [Sort("n", descending=True)], 5)
    assert "MATCH" in counted[0] and "doc" not in counted[0]
    assert "MATCH" in found[-1]  # 40 matches: the page is read from them, not walked
    assert await sqlite_store.count("things", text) == 40
    common = And(Eq("ws", "a"), Contains("title", "acme"))
    _, found = plans(path, "c_things", common, [Sort("n", descending=True)], 5)
    assert "MATCH" not in found[-1]  # most rows match: walking n's index is quicker
    short = And(Eq("ws", "a"), Contains("title", "r 1"))  # a trigram, but with a space
    assert await sqlite_store.count("things", short) == len(
        [d for d in tagged(2000) if "r 1" in d["title"].casefold()]
    )
    page_total, page = await sqlite_store.find_page(
        "things", text, sort=[Sort("n", descending=True)], limit=3
    )
    assert page_total == 40 and [d["n"] for d in page] == [1950, 1900, 1850]


async def test_a_writer_without_cm_fold_fails_instead_of_skipping_the_text_index(
    sqlite_store, tmp_path
):
    await sqlite_store.ensure_indexes("things", SIDE_INDEXES)
    await sqlite_store.insert("things", tagged(1)[0])
    with sqlite3.connect(tmp_path / "store.db") as other:
        with pytest.raises(sqlite3.OperationalError, match="cm_fold"):
            other.execute(
                "INSERT INTO c_things(id, v, doc) VALUES ('x', 1, json_object('title', 'T'))"
            )
    assert await sqlite_store.count("things") == 1


async def test_side_indexes_survive_vacuum_and_are_rebuilt_for_a_changed_definition(
    sqlite_store, tmp_path
):
    await sqlite_store.ensure_indexes("things", SIDE_INDEXES)
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("things", tagged(300))
    for n in range(0, 300, 3):
        await sqlite_store.delete("things", f"t{n:04d}")
    with sqlite3.connect(tmp_path / "store.db") as other:
        other.execute("VACUUM")  # may renumber the documents' rowids
    await sqlite_store.insert("things", {**tagged(1)[0], "id": "late", "title": "Initech late"})
    expected = [d["id"] for d in await sqlite_store.find("things", Eq("ws", "a"))]
    initech = [
        i for i in expected if "initech" in (await sqlite_store.get("things", i))["title"].lower()
    ]
    found = await sqlite_store.find("things", And(Eq("ws", "a"), Contains("title", "initech")))
    assert sorted(d["id"] for d in found) == sorted(initech) and "late" in initech
    tagged_u5 = await sqlite_store.find("things", And(Eq("ws", "a"), Has("tags", "u5")))
    assert all("u5" in d["tags"] for d in tagged_u5) and len(tagged_u5) == len(
        [i for i in expected if "u5" in (await sqlite_store.get("things", i))["tags"]]
    )
    same = Index(("ws", "kind", "n", "title"), text=("title",), name="tx_ws_kind_n_title")
    await sqlite_store.ensure_indexes("things", [same])  # the same definition: nothing to do
    # Another definition under that name: the side index holds only what the
    # documents say, so it is dropped and built again from them.
    changed = Index(("ws", "kind", "title"), text=("title",), facets=("kind",), name=same.name)
    await sqlite_store.ensure_indexes("things", [changed])
    with sqlite3.connect(tmp_path / "store.db") as other:
        spec = other.execute(
            "SELECT spec FROM _indexes WHERE name = 's_things_tx_ws_kind_n_title'"
        ).fetchone()[0]
        columns = [r[1] for r in other.execute("PRAGMA table_info(s_things_tx_ws_kind_n_title)")]
    assert '"facets": ["kind"]' in spec and columns == ["n", "id", "f0", "f1"]
    found = await sqlite_store.find("things", And(Eq("ws", "a"), Contains("title", "initech")))
    assert sorted(d["id"] for d in found) == sorted(initech)


async def test_a_transaction_waits_for_another_process_holding_the_write_lock(
    sqlite_store, tmp_path
):
    await sqlite_store.insert("people", people(1)[0])  # the writer exists: BEGIN tries the loop
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with sqlite_store.transaction() as tx:
            await tx.insert("people", people(2)[1])

    task = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting in the writer's thread, not failed
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(task, 10)
    assert await sqlite_store.count("people") == 2


async def test_outbox_events_read_back_the_same_after_a_restart(tmp_path):
    first = SqliteStore(tmp_path / "outbox.db")
    events = [
        Envelope(type="test.kept", version=1, source="t", workspace="w", data={"n": n})
        for n in range(3)
    ]
    async with first.transaction() as tx:
        for event in events:
            tx.emit(event)
    kept = [r.envelope for r in await first.outbox_pending()]
    await first.close()
    second = SqliteStore(tmp_path / "outbox.db")  # nothing in memory: parsed from the file
    try:
        assert [r.envelope for r in await second.outbox_pending()] == kept == events
    finally:
        await second.close()


async def test_a_query_too_slow_for_the_loop_goes_straight_to_the_thread_next_time(
    sqlite_store, monkeypatch
):
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("people", people(300))
    where = And(Eq("ws", "a"), Contains("name", "1"))
    expected = await sqlite_store.count("people", where)
    quick = sqlite_store._quick
    tried = []

    class Watched:
        """The loop's read connection, counting the reads tried on it."""

        def execute(self, *args):
            tried.append(args[0])
            return quick.execute(*args)

        def __getattr__(self, name):
            return getattr(quick, name)

    sqlite_store._quick = Watched()
    monkeypatch.setattr(sqlite_module, "QUICK_READ_SECONDS", -1.0)  # interrupt every read
    assert await sqlite_store.count("people", where) == expected  # the loop, then the thread
    assert tried
    before = len(tried)
    assert await sqlite_store.count("people", where) == expected
    assert len(tried) == before  # straight to the thread: the loop was not tried again
    assert await sqlite_store.count("people", And(Eq("ws", "b"), Contains("name", "2"))) > 0
    assert len(tried) > before  # another query still tries the loop first
    sqlite_store._quick = quick


COUNTED_AND_FACETED = [
    Index(("ws", "kind"), counted=True),
    Index(("ws", "tags", "kind"), array="tags", counted=True),
    Index(("ws", "tags", "kind", "n"), array="tags"),
    Index(("ws", "kind", "tags", "n", "title"), text=("title",), facets=("ws", "kind", "tags")),
]


async def test_counts_of_counted_indexes_and_facets_read_no_entry_per_document(
    sqlite_store, tmp_path
):
    await sqlite_store.ensure_indexes("things", COUNTED_AND_FACETED)
    async with sqlite_store.transaction() as tx:
        await tx.insert_many("things", tagged(2000))
    path = tmp_path / "store.db"
    visible = And(
        Eq("ws", "a"), Not(Eq("kind", "gone")), Or(Has("tags", "u1"), In("kind", ("open",)))
    )
    counted, _ = plans(path, "c_things", visible)
    # Two sums over the combinations: the kinds, then u1's other kinds.
    assert len(counted) == 2 and all("sum(s.n)" in sql and "_cx_" in sql for sql in counted)
    assert await sqlite_store.count("things", visible) == len(
        await sqlite_store.find("things", visible)
    )
    search = And(Eq("ws", "a"), Not(Eq("kind", "gone")), Contains("title", "initech"))
    counted, found = plans(path, "c_things", search, [Sort("n", descending=True)], 5)
    # One workspace only: its term is left out; the kind is a NOT inside the match.
    assert counted == [
        "SELECT count(*) FROM s_things_tx_ws_kind_tags_n_title_fts "
        "WHERE s_things_tx_ws_kind_tags_n_title_fts MATCH ?"
    ]
    assert "MATCH" in found[-1]  # 40 matches: the page is read from them
    total, page = await sqlite_store.find_page(
        "things", search, sort=[Sort("n", descending=True)], limit=3
    )
    expected = [
        d for d in tagged(2000) if d["kind"] != "gone" and "initech" in d["title"].casefold()
    ]
    assert total == len(expected) == 40
    assert [d["n"] for d in page] == [d["n"] for d in expected][::-1][:3]
    await sqlite_store.insert("things", {**tagged(1)[0], "id": "other", "ws": "b"})
    counted, _ = plans(path, "c_things", search)
    assert counted[0].endswith("MATCH ?")  # the workspace now a term of the match
    assert await sqlite_store.count("things", search) == len(expected)
