"""One contract for every document-store adapter."""

from __future__ import annotations

import asyncio

import pytest

from casemesh.events import Envelope
from casemesh.store.filters import And, Contains, Eq, Exists, Has, In, Not, Or, Range, Sort
from casemesh.store.port import DuplicateKey, Index, NotFound, VersionConflict


def envelope(n: int) -> Envelope:
    return Envelope(type="test.happened", version=1, source="tests", workspace="ws", data={"n": n})


PEOPLE = [
    {
        "id": "p1",
        "ws": "a",
        "name": "Zoë Ärger",
        "age": 31,
        "tags": ["x", "y"],
        "address": {"city": "Berlin", "zip": "10115"},
        "active": True,
    },
    {
        "id": "p2",
        "ws": "a",
        "name": "adam",
        "age": 25,
        "tags": ["y"],
        "address": {"city": "Paris", "zip": "75001"},
        "active": False,
    },
    {
        "id": "p3",
        "ws": "a",
        "name": "Bea",
        "age": 31,
        "tags": [],
        "address": {"city": "berlin", "zip": "10117"},
        "active": True,
    },
    {
        "id": "p4",
        "ws": "b",
        "name": "Carl",
        "age": 40,
        "tags": ["x"],
        "address": {"city": "Rome", "zip": "00100"},
        "active": True,
        "nick": "cc",
    },
]


async def seed(store) -> None:
    for person in PEOPLE:
        await store.insert("people", person)


async def ids(store, where=None, **kw) -> list[str]:
    return [d["id"] for d in await store.find("people", where, **kw)]


async def test_insert_and_get_round_trip(store):
    saved = await store.insert("people", PEOPLE[0])
    assert saved["_version"] == 1
    got = await store.get("people", "p1")
    assert got == {**PEOPLE[0], "_version": 1}
    assert await store.get("people", "missing") is None


async def test_insert_same_id_twice_is_duplicate(store):
    await store.insert("people", PEOPLE[0])
    with pytest.raises(DuplicateKey):
        await store.insert("people", PEOPLE[0])


async def test_invalid_ids_and_names_are_refused(store):
    with pytest.raises(ValueError):
        await store.insert("people", {"name": "no id"})
    with pytest.raises(ValueError):
        await store.insert("people; drop", {"id": "x"})


async def test_equality_in_range_and_nested_fields(store):
    await seed(store)
    assert sorted(await ids(store, Eq("ws", "a"))) == ["p1", "p2", "p3"]
    assert sorted(await ids(store, Eq("address.zip", "10117"))) == ["p3"]
    assert sorted(await ids(store, In("name", ("adam", "Carl", "nobody")))) == ["p2", "p4"]
    assert sorted(await ids(store, Range("age", gte=31))) == ["p1", "p3", "p4"]
    assert sorted(await ids(store, Range("age", gt=25, lt=40))) == ["p1", "p3"]
    assert sorted(await ids(store, Range("address.zip", gte="10000", lte="10116"))) == ["p1"]
    assert sorted(await ids(store, Eq("active", True))) == ["p1", "p3", "p4"]
    assert sorted(await ids(store, Eq("nick", None))) == ["p1", "p2", "p3"]


async def test_contains_text_is_case_insensitive_unicode(store):
    await seed(store)
    assert await ids(store, Contains("name", "ZOË")) == ["p1"]
    assert await ids(store, Contains("name", "ärg")) == ["p1"]
    assert sorted(await ids(store, Contains("address.city", "BERL"))) == ["p1", "p3"]
    # A regex or LIKE metacharacter is just text.
    assert await ids(store, Contains("name", ".*")) == []
    assert await ids(store, Contains("name", "%")) == []


async def test_and_or_not_exists_and_array_membership(store):
    await seed(store)
    assert await ids(store, And(Eq("ws", "a"), Eq("age", 31), Not(Eq("name", "Bea")))) == ["p1"]
    assert sorted(await ids(store, Or(Eq("name", "adam"), Eq("address.city", "Rome")))) == [
        "p2",
        "p4",
    ]
    assert sorted(await ids(store, Not(Eq("ws", "a")))) == ["p4"]
    assert await ids(store, Exists("nick")) == ["p4"]
    assert sorted(await ids(store, Has("tags", "x"))) == ["p1", "p4"]
    assert sorted(await ids(store, Not(Eq("nick", "cc")))) == ["p1", "p2", "p3"]
    assert await ids(store, Or()) == []
    assert len(await ids(store, And())) == 4


async def test_sort_on_several_fields_skip_limit_and_count(store):
    await seed(store)
    order = [Sort("age", descending=True), Sort("name")]
    assert await ids(store, sort=order) == ["p4", "p3", "p1", "p2"]
    assert await ids(store, sort=order, skip=1, limit=2) == ["p3", "p1"]
    assert await ids(store, sort=[Sort("address.city")]) == ["p1", "p2", "p4", "p3"]
    assert await store.count("people") == 4
    assert await store.count("people", Eq("ws", "a")) == 3
    assert await store.count("empty_collection") == 0


async def test_counts_over_indexed_fields_match_the_documents(store):
    """Counts an index can answer alone give what finding the documents gives."""
    await store.ensure_indexes(
        "people", [Index(("ws", "age", "name")), Index(("ws", "address.city")), Index(("age",))]
    )
    await seed(store)
    await store.insert("people", {"id": "p5", "ws": "a", "name": 7, "tags": []})  # no age
    filters = [
        Eq("ws", "a"),
        And(Eq("ws", "a"), Not(Eq("age", 31))),
        And(Eq("ws", "a"), Eq("age", 31), Not(Eq("name", "Bea"))),
        And(Eq("ws", "a"), Or(Range("age", gte=30), Contains("name", "ADA"))),
        And(Eq("ws", "a"), In("age", (25, None))),
        And(Eq("ws", "b"), Not(Eq("address.city", "Rome"))),
        Not(Eq("age", 40)),
        And(Eq("ws", "a"), Has("tags", "y")),
        And(Eq("ws", "a"), Eq("id", "p2")),
    ]
    for where in filters:
        assert await store.count("people", where) == len(await ids(store, where)), where


async def test_update_sets_fields_and_checks_version(store):
    await seed(store)
    saved = await store.update("people", "p2", {"age": 26, "address.city": "Lyon"})
    assert saved["_version"] == 2
    got = await store.get("people", "p2")
    assert got["age"] == 26 and got["address"] == {"city": "Lyon", "zip": "75001"}
    assert got["_version"] == 2
    await store.update("people", "p2", {"age": 27}, expected_version=2)
    with pytest.raises(VersionConflict):
        await store.update("people", "p2", {"age": 99}, expected_version=2)
    assert (await store.get("people", "p2"))["age"] == 27
    with pytest.raises(NotFound):
        await store.update("people", "nobody", {"age": 1})
    with pytest.raises(ValueError):
        await store.update("people", "p2", {"$set": 1})


async def test_concurrent_updates_with_same_version_exactly_one_wins(store):
    await store.insert("people", {"id": "race", "n": 0})

    async def attempt(i: int) -> bool:
        try:
            await store.update("people", "race", {"n": i}, expected_version=1)
        except VersionConflict:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert results.count(True) == 1
    assert (await store.get("people", "race"))["_version"] == 2


async def test_delete_with_and_without_version(store):
    await seed(store)
    await store.delete("people", "p1")
    assert await store.get("people", "p1") is None
    with pytest.raises(NotFound):
        await store.delete("people", "p1")
    with pytest.raises(VersionConflict):
        await store.delete("people", "p2", expected_version=5)
    await store.delete("people", "p2", expected_version=1)
    assert await store.count("people") == 2


async def test_unique_index_refuses_duplicates_on_insert_and_update(store):
    await store.ensure_indexes("users", [Index(("ws", "username"), unique=True), Index(("email",))])
    await store.ensure_indexes("users", [Index(("ws", "username"), unique=True)])  # idempotent
    await store.insert("users", {"id": "u1", "ws": "a", "username": "ann", "email": "a@x"})
    await store.insert("users", {"id": "u2", "ws": "b", "username": "ann", "email": "b@x"})
    with pytest.raises(DuplicateKey):
        await store.insert("users", {"id": "u3", "ws": "a", "username": "ann", "email": "c@x"})
    await store.insert("users", {"id": "u4", "ws": "a", "username": "bob", "email": "d@x"})
    with pytest.raises(DuplicateKey):
        await store.update("users", "u4", {"username": "ann"})
    assert (await store.get("users", "u4"))["username"] == "bob"
    assert await store.get("users", "u3") is None


async def test_counters_are_atomic_and_scoped(store):
    values = await asyncio.gather(*(store.next_value("case_number", "ws-a") for _ in range(40)))
    assert sorted(values) == list(range(1, 41))
    assert await store.next_value("case_number", "ws-b") == 1
    assert await store.next_value("case_number", "ws-a") == 41


async def test_transaction_writes_documents_and_outbox_together(store):
    async with store.transaction() as tx:
        await tx.insert("people", {"id": "t1", "n": 1})
        await tx.update("people", "t1", {"n": 2})
        assert (await tx.get("people", "t1"))["n"] == 2
        tx.emit(envelope(1))
        tx.emit(envelope(2))
    pending = await store.outbox_pending()
    assert [r.envelope.data["n"] for r in pending] == [1, 2]
    assert pending[0].seq < pending[1].seq
    await store.outbox_mark_published([pending[0].seq])
    assert [r.envelope.data["n"] for r in await store.outbox_pending()] == [2]


async def test_failed_transaction_leaves_nothing_behind(store):
    await store.insert("people", {"id": "keep", "n": 1})
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.insert("people", {"id": "new", "n": 1})
            await tx.update("people", "keep", {"n": 2})
            tx.emit(envelope(9))
            await tx.insert("people", {"id": "keep", "n": 3})
    assert await store.get("people", "new") is None
    assert (await store.get("people", "keep"))["n"] == 1
    assert await store.outbox_pending() == []


async def test_events_passed_to_single_writes_land_in_outbox(store):
    await store.insert("people", {"id": "e1"}, events=[envelope(1)])
    await store.update("people", "e1", {"x": 1}, events=[envelope(2)])
    await store.delete("people", "e1", events=[envelope(3)])
    got = [r.envelope for r in await store.outbox_pending()]
    assert [e.data["n"] for e in got] == [1, 2, 3]
    assert got[0] == envelope(1).model_copy(update={"id": got[0].id, "time": got[0].time})


async def test_ping_answers(store):
    await store.ping()


# -- multikey and text indexes ------------------------------------------------------------

CASES = [
    {
        "id": f"k{n:02d}",
        "ws": "a" if n % 4 else "b",
        "status": ("OPEN", "DONE", "GONE")[n % 3],
        "pro": f"p{n % 3}",
        "n": n,
        "members": [f"u{(n + k) % 5}" for k in range(n % 4)],
        "title": ("Initech: laptop", "Acme (order 3)", "Zoë Ärger", "globex", "x")[n % 5]
        + f" #{n}",
        "task": {"title": ("Review", "Payment", "INITECH check", None)[n % 4]},
    }
    for n in range(40)
]
CASE_INDEXES = [
    Index(("ws", "n")),
    Index(("ws", "pro", "status", "n")),
    Index(("ws", "members", "status", "pro", "n"), array="members"),
    Index(
        ("ws", "status", "pro", "members", "n", "title", "task.title"), text=("title", "task.title")
    ),
]


def search(text: str):
    return Or(Contains("title", text), Contains("task.title", text))


SIDE_FILTERS = [
    And(Eq("ws", "a"), Has("members", "u1")),
    And(Eq("ws", "a"), Has("members", "u1"), Not(Eq("status", "GONE"))),
    And(Eq("ws", "a"), Not(Eq("status", "GONE")), Or(Has("members", "u2"), In("pro", ("p1",)))),
    And(Eq("ws", "a"), Has("members", "u1"), Has("members", "u2")),
    And(Eq("ws", "a"), Not(Has("members", "u3"))),
    Has("members", "u4"),
    And(Eq("ws", "a"), search("initech")),
    And(Eq("ws", "a"), Not(Eq("status", "GONE")), search("INITECH")),
    And(Eq("ws", "a"), search("ech"), Or(Has("members", "u0"), In("pro", ("p2",)))),
    And(Eq("ws", "b"), Contains("title", "zoË ä")),
    And(Eq("ws", "a"), search("in")),  # shorter than a trigram
    And(Eq("ws", "a"), search("(order 3)")),
    And(Eq("ws", "a"), search("nothing like it")),
    And(Eq("ws", "a"), Has("members", "u1"), search("laptop")),
]


async def same_answers(store, indexed: str, plain: str) -> None:
    """Every filter finds and counts the same documents in both collections."""
    for where in SIDE_FILTERS:
        expected = await store.find(plain, where, sort=[Sort("n", descending=True)])
        got = await store.find(indexed, where, sort=[Sort("n", descending=True)])
        assert [d["id"] for d in got] == [d["id"] for d in expected], where
        page = await store.find(indexed, where, sort=[Sort("n")], skip=1, limit=3)
        assert [d["id"] for d in page] == sorted(d["id"] for d in expected)[1:4], where
        total, page = await store.find_page(indexed, where, sort=[Sort("n")], skip=1, limit=3)
        assert (total, [d["id"] for d in page]) == (
            len(expected),
            sorted(d["id"] for d in expected)[1:4],
        ), where
        by_title = [Sort("title", descending=True)]  # a field no side table sorts by
        got = await store.find(indexed, where, sort=by_title, limit=4)
        assert got == await store.find(plain, where, sort=by_title, limit=4), where
        assert await store.count(indexed, where) == len(expected), where


async def test_multikey_and_text_indexes_answer_like_the_documents(store):
    await store.ensure_indexes("indexed", CASE_INDEXES)
    for case in CASES[:30]:
        await store.insert("indexed", case)
        await store.insert("plain", case)
    await same_answers(store, "indexed", "plain")
    # Known answers, so that both collections being wrong the same way fails too.
    initech = And(Eq("ws", "a"), search("initech"))
    expected = sorted(
        c["id"]
        for c in CASES[:30]
        if c["ws"] == "a"
        and ("initech" in c["title"].lower() or "initech" in (c["task"]["title"] or "").lower())
    )
    assert sorted(d["id"] for d in await store.find("indexed", initech)) == expected
    assert len(expected) > 5
    u1 = sorted(c["id"] for c in CASES[:30] if c["ws"] == "a" and "u1" in c["members"])
    assert sorted(d["id"] for d in await store.find("indexed", SIDE_FILTERS[0])) == u1


async def test_multikey_and_text_indexes_follow_updates_deletes_and_rollbacks(store):
    for case in CASES:
        await store.insert("indexed", case)
        await store.insert("plain", case)
    await store.ensure_indexes("indexed", CASE_INDEXES)  # over documents already there
    await store.ensure_indexes("indexed", CASE_INDEXES)  # and again: nothing changes
    await same_answers(store, "indexed", "plain")
    changes = [
        ("k01", {"members": ["u1", "u2"], "status": "OPEN"}),
        ("k02", {"title": "now Initech too", "task.title": "done"}),
        ("k05", {"members": [], "pro": "p1"}),
        ("k06", {"ws": "b"}),
        ("k07", {"task": {"title": "initech again"}}),
    ]
    for doc_id, change in changes:
        for collection in ("indexed", "plain"):
            await store.update(collection, doc_id, change)
    for collection in ("indexed", "plain"):
        await store.delete(collection, "k09")
    await same_answers(store, "indexed", "plain")
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.update("indexed", "k10", {"members": ["u9"], "title": "initech rollback"})
            await tx.insert("indexed", {"id": "k11"})
    assert await store.count("indexed", Has("members", "u9")) == 0
    assert await store.count("indexed", And(Eq("ws", "a"), search("rollback"))) == 0
    await same_answers(store, "indexed", "plain")


async def test_text_index_folds_case_as_casefold_does(store):
    await store.ensure_indexes("texts", [Index(("ws", "t"), text=("t",))])
    await store.insert("texts", {"id": "1", "ws": "a", "t": "Straße in Köln"})
    await store.insert("texts", {"id": "2", "ws": "a", "t": "STRASSE IN KÖLN"})
    await store.insert("texts", {"id": "3", "ws": "a", "t": 42})
    await store.insert("texts", {"id": "4", "ws": "a"})
    for text in ("strasse in", "STRAßE", "köln", "KÖLN"):
        found = await store.find("texts", And(Eq("ws", "a"), Contains("t", text)))
        assert sorted(d["id"] for d in found) == ["1", "2"], text
        assert await store.count("texts", And(Eq("ws", "a"), Contains("t", text))) == 2
    assert await store.count("texts", Contains("t", "42")) == 0  # a number is not text
    assert await store.get("texts", "1") == {
        "id": "1",
        "ws": "a",
        "t": "Straße in Köln",
        "_version": 1,
    }


def test_index_kinds_are_checked():
    assert Index(("ws", "tags"), array="tags").kind == "array"
    assert Index(("ws", "title"), text=("title",)).kind == "text"
    assert Index(("ws",)).kind == "plain"
    assert Index(("ws", "tags"), array="tags").index_name == "mx_ws_tags"
    for bad in (
        lambda: Index(("ws",), array="tags"),
        lambda: Index(("ws",), text=("title",)),
        lambda: Index(("ws", "tags"), array="tags", text=("ws",)),
        lambda: Index(("ws", "tags"), unique=True, array="tags"),
        lambda: Index(("ws", "ws")),
        lambda: Index(()),
    ):
        with pytest.raises(ValueError):
            bad()


# -- counted indexes -----------------------------------------------------------------------

COUNTED_INDEXES = [
    Index(("ws", "status", "pro"), counted=True),
    Index(("ws", "members", "status", "pro"), array="members", counted=True),
]
# Values that compare alike or unlike in awkward ways: numbers of both kinds, a
# string that looks like a number, null, a missing field, booleans, an object,
# a duplicated element, escapes.
ODD = [
    {"id": "o1", "ws": "a", "status": 1, "pro": "p1", "members": ["u1", "u1", 1]},
    {"id": "o2", "ws": "a", "status": 1.0, "pro": None, "members": [1.0, "1", None]},
    {"id": "o3", "ws": "a", "status": "1", "members": "u1"},
    {"id": "o4", "ws": "a", "status": True, "pro": {"k": [1, 2]}, "members": [True, "u2"]},
    {"id": "o5", "ws": "a", "status": "OPEN", "pro": "p\u00e9", "members": ["\u00e9", "e\u0301"]},
    {"id": "o6", "ws": None, "status": "OPEN", "pro": "p1", "members": []},
    {"id": "o7", "status": 0.30000000000000004, "pro": "p1", "members": ["u3"]},
    {"id": "o8", "ws": "a", "status": 0.3, "pro": "p1", "members": {"x": "u3"}},
]
COUNTED_FILTERS = [
    None,
    Eq("ws", "a"),
    And(Eq("ws", "a"), Not(Eq("status", "GONE"))),
    And(Eq("ws", "a"), In("pro", ("p1", "p2")), Not(Eq("status", "GONE"))),
    And(Eq("ws", "a"), Or(Eq("status", "OPEN"), Range("status", gte=1))),
    And(Eq("ws", "a"), Has("members", "u1")),
    And(Eq("ws", "a"), Has("members", "u1"), Not(Eq("status", "GONE"))),
    And(Eq("ws", "a"), Not(Eq("status", "GONE")), Or(Has("members", "u2"), In("pro", ("p1",)))),
    And(Eq("ws", "a"), Or(Has("members", "u2"), In("pro", ("p1",)), Eq("status", "DONE"))),
    And(Eq("ws", "a"), Has("members", "u1"), Has("members", "u2")),
    And(Eq("ws", "a"), Not(Has("members", "u3"))),
    And(Eq("ws", "a"), Contains("status", "pe")),
    And(Eq("ws", "a"), Eq("id", "k01")),
    And(Eq("ws", "a"), Exists("title")),
    Has("members", "u4"),
    Has("members", 1),
    Has("members", "1"),
    Has("members", True),
    Has("members", "u3"),
    Has("members", "\u00e9"),
    Eq("status", 1),
    Eq("status", "1"),
    Eq("status", 0.3),
    Eq("status", True),
    Eq("pro", None),
    Eq("ws", None),
    Eq("pro", "p\u00e9"),
    And(Has("members", "u1"), Eq("ws", "a"), Eq("status", 1)),
]


async def same_counts(store, indexed: str, plain: str) -> None:
    for where in COUNTED_FILTERS:
        expected = len(await store.find(plain, where))
        assert await store.count(indexed, where) == expected, where
        total, page = await store.find_page(indexed, where, sort=[Sort("n")], limit=2)
        assert total == expected, where
        assert page == await store.find(plain, where, sort=[Sort("n")], limit=2), where


async def test_counted_indexes_count_like_the_documents(store):
    await store.ensure_indexes("indexed", [*CASE_INDEXES, *COUNTED_INDEXES])
    for doc in [*CASES[:30], *ODD]:
        await store.insert("indexed", doc)
        await store.insert("plain", doc)
    await same_counts(store, "indexed", "plain")
    # Known answers, so that both collections being wrong the same way fails too.
    assert (
        await store.count("indexed", And(Eq("ws", "a"), Has("members", "u1")))
        == len([c for c in CASES[:30] if c["ws"] == "a" and "u1" in c["members"]]) + 2
    )  # o1 (twice in it), o3 (a string is its own element)
    assert await store.count("indexed", Eq("status", 1)) == 3  # 1, 1.0 and true
    assert await store.count("indexed", Has("members", 1)) == 3  # 1, 1.0, true


async def test_counted_indexes_follow_writes_rollbacks_and_late_creation(store):
    for doc in [*CASES, *ODD]:
        await store.insert("indexed", doc)
        await store.insert("plain", doc)
    await store.ensure_indexes("indexed", COUNTED_INDEXES)  # over documents already there
    await store.ensure_indexes("indexed", COUNTED_INDEXES)  # and again: nothing changes
    await same_counts(store, "indexed", "plain")
    changes = [
        ("k01", {"members": ["u1", "u2", "u2"], "status": "OPEN"}),
        ("k02", {"status": "GONE"}),
        ("k05", {"members": [], "pro": "p1"}),
        ("k06", {"ws": "b"}),
        ("k07", {"title": "only the title changes"}),
        ("o2", {"status": 1, "members": [1]}),  # the same combinations, written differently
        ("o3", {"members": ["u1", "u4"]}),
    ]
    for doc_id, change in changes:
        for collection in ("indexed", "plain"):
            await store.update(collection, doc_id, change)
    for collection in ("indexed", "plain"):
        await store.delete(collection, "k09")
        await store.delete(collection, "o1")
    await same_counts(store, "indexed", "plain")
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.update("indexed", "k10", {"members": ["u9"], "status": "NEW"})
            await tx.insert("indexed", {"id": "k12", "ws": "a", "members": ["u9"]})
            await tx.insert("indexed", {"id": "k11"})
    assert await store.count("indexed", Has("members", "u9")) == 0
    assert await store.count("indexed", And(Eq("ws", "a"), Eq("status", "NEW"))) == 0
    await same_counts(store, "indexed", "plain")


def test_counted_index_kind_is_checked():
    assert Index(("ws", "status"), counted=True).kind == "counted"
    assert Index(("ws", "tags"), array="tags", counted=True).index_name == "cx_ws_tags"
    for bad in (
        lambda: Index(("ws", "t"), text=("t",), counted=True),
        lambda: Index(("ws",), unique=True, counted=True),
        lambda: Index(("ws", "id"), counted=True),
    ):
        with pytest.raises(ValueError):
            bad()


# -- text indexes with facets ----------------------------------------------------------------

FACETED_INDEXES = [
    Index(("ws", "members", "status", "pro", "n"), array="members"),
    Index(
        ("ws", "status", "pro", "members", "n", "title", "task.title"),
        text=("title", "task.title"),
        facets=("ws", "status", "pro", "members"),
    ),
]
# Facet values that compare alike or unlike in awkward ways (see ODD), with titles.
ODD_TITLED = [
    {**doc, "n": 100 + k, "title": f"Initech odd {k}", "task": {"title": None}}
    for k, doc in enumerate(ODD)
] + [
    {"id": "o9", "ws": "a", "status": ["OPEN"], "pro": '["p1"]', "n": 109, "title": "initech"},
    {"id": "o10", "ws": "a", "status": '["OPEN"]', "pro": [], "n": 110, "title": "INITECH"},
]
FACET_FILTERS = [
    *SIDE_FILTERS,
    And(search("initech"), Eq("status", None)),
    And(search("initech"), Eq("ws", None)),
    And(search("initech"), In("pro", ("p1", None))),
    And(search("initech"), Not(In("pro", ("p1", None)))),
    And(search("initech"), Has("members", None)),
    And(search("initech"), Has("members", 1)),
    And(search("initech"), Has("members", "u1"), Not(Has("members", "u2"))),
    And(search("initech"), Eq("status", 1)),
    And(search("initech"), Eq("status", True)),
    And(search("initech"), Eq("status", 0.3)),
    And(search("initech"), Eq("status", '["OPEN"]')),  # equals an array's JSON text too
    And(search("initech"), Not(Eq("status", '["OPEN"]'))),
    And(search("initech"), Eq("pro", '["p1"]')),
    And(search("initech"), Has("status", "OPEN")),
    And(search("initech"), Eq("ws", "zzz")),  # a value no document holds
    And(search("initech"), Not(Eq("ws", "zzz"))),
    And(search("initech"), Or(Eq("ws", "b"), And(Eq("pro", "p2"), Has("members", "u3")))),
    And(search("initech"), Or()),
    And(search("initech"), Eq("ws", "a"), Range("n", gte=10), Not(Eq("status", "GONE"))),
    And(search("initech"), Eq("ws", "a"), Or(Has("members", "u1"), Range("n", lt=5))),
]


async def same_faceted_answers(store, indexed: str, plain: str) -> None:
    for where in FACET_FILTERS:
        expected = await store.find(plain, where, sort=[Sort("n", descending=True)])
        got = await store.find(indexed, where, sort=[Sort("n", descending=True)])
        assert [d["id"] for d in got] == [d["id"] for d in expected], where
        assert await store.count(indexed, where) == len(expected), where
        total, page = await store.find_page(indexed, where, sort=[Sort("n")], skip=1, limit=2)
        assert total == len(expected), where
        assert [d["id"] for d in page] == [d["id"] for d in expected[::-1][1:3]], where


async def test_facets_of_a_text_index_filter_like_the_documents(store):
    await store.ensure_indexes("indexed", FACETED_INDEXES)
    for doc in [*CASES[:30], *ODD_TITLED]:
        await store.insert("indexed", doc)
        await store.insert("plain", doc)
    await same_faceted_answers(store, "indexed", "plain")
    # Known answers, so that both collections being wrong the same way fails too.
    where = And(search("initech"), Eq("ws", "a"), Not(Eq("status", "GONE")), Has("members", "u1"))
    expected = [
        d["id"]
        for d in [*CASES[:30], *ODD_TITLED]
        if d.get("ws") == "a"
        and d.get("status") != "GONE"
        and "u1" in (d["members"] if isinstance(d.get("members"), list) else [d.get("members")])
        and "initech" in (d["title"] + str((d.get("task") or {}).get("title"))).lower()
    ]
    assert sorted(d["id"] for d in await store.find("indexed", where)) == sorted(expected)
    assert len(expected) >= 4


async def test_facets_follow_writes_rollbacks_and_late_creation(store):
    for doc in [*CASES, *ODD_TITLED]:
        await store.insert("indexed", doc)
        await store.insert("plain", doc)
    await store.ensure_indexes("indexed", FACETED_INDEXES)  # over documents already there
    await store.ensure_indexes("indexed", FACETED_INDEXES)
    await same_faceted_answers(store, "indexed", "plain")
    changes = [
        ("k01", {"members": ["u1", "u2"], "status": "OPEN"}),
        ("k02", {"title": "now Initech too", "task.title": "done"}),
        ("k05", {"members": [], "pro": "p1"}),
        ("k06", {"ws": "b"}),
        ("k07", {"n": 70}),  # a stored field that is not a facet
        ("k15", {"ws": "new", "status": "NEW"}),  # values no document held
        ("o2", {"status": 1, "members": [1]}),
    ]
    for doc_id, change in changes:
        for collection in ("indexed", "plain"):
            await store.update(collection, doc_id, change)
    for collection in ("indexed", "plain"):
        await store.delete(collection, "k09")
    await same_faceted_answers(store, "indexed", "plain")
    assert await store.count("indexed", And(search("initech"), Eq("ws", "new"))) == 1
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.update("indexed", "k10", {"members": ["u9"], "title": "initech rollback"})
            await tx.insert("indexed", {"id": "k11"})
    assert await store.count("indexed", And(search("initech"), Has("members", "u9"))) == 0
    await same_faceted_answers(store, "indexed", "plain")


async def test_one_value_everywhere_still_filters_after_another_appears(store):
    await store.ensure_indexes("indexed", FACETED_INDEXES)
    for doc in CASES[:12]:
        await store.insert("indexed", {**doc, "ws": "only"})
    only = And(Eq("ws", "only"), search("initech"))
    assert await store.count("indexed", only) == len(await store.find("indexed", only)) > 0
    await store.insert("indexed", {**CASES[12], "ws": "other", "title": "Initech other"})
    assert await store.count("indexed", only) == len(await store.find("indexed", only))
    assert await store.count("indexed", And(Eq("ws", "other"), search("initech"))) == 1
    await store.delete("indexed", CASES[12]["id"])
    assert await store.count("indexed", And(Eq("ws", "other"), search("initech"))) == 0


def test_facets_are_checked():
    text = ("title",)
    assert Index(("ws", "title"), text=text, facets=("ws",)).facets == ("ws",)
    for bad in (
        lambda: Index(("ws", "title"), facets=("ws",)),
        lambda: Index(("ws", "title"), text=text, facets=("title",)),
        lambda: Index(("ws", "title"), text=text, facets=("other",)),
        lambda: Index(("ws", "title"), text=text, facets=("ws", "ws")),
    ):
        with pytest.raises(ValueError):
            bad()
