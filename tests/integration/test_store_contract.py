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
