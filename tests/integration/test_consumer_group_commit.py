"""Consumers' writes are committed together, and each caller still gets its own outcome."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from casemesh.bus.dedup import COLLECTION, StoreDeduplicator
from casemesh.bus.group_commit import GroupCommit
from casemesh.bus.memory import InProcessBus
from casemesh.events import Envelope
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.port import DuplicateKey, Transaction


def inserting(n: int):
    async def write(tx: Transaction) -> int:
        await tx.insert("things", {"id": f"t{n}", "n": n})
        return n

    return write


async def test_writes_queued_together_share_one_commit(store):
    group = GroupCommit(store)
    answers = await asyncio.gather(*(group.run(inserting(n)) for n in range(20)))
    assert answers == list(range(20))
    # All twenty were queued before the first commit began: one transaction.
    assert group.commits == 1
    assert group.writes == 20
    for n in range(20):
        assert (await store.get("things", f"t{n}"))["n"] == n


async def test_a_failing_write_fails_alone(store):
    await store.insert("things", {"id": "t3", "n": -1})
    group = GroupCommit(store)
    results = await asyncio.gather(
        *(group.run(inserting(n)) for n in range(6)), return_exceptions=True
    )
    assert isinstance(results[3], DuplicateKey)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5]
    for n in (0, 1, 2, 4, 5):
        assert (await store.get("things", f"t{n}"))["n"] == n
    assert (await store.get("things", "t3"))["n"] == -1  # untouched by the failed write


async def test_writes_arriving_during_a_commit_go_in_the_next(store):
    group = GroupCommit(store)
    first = asyncio.ensure_future(group.run(inserting(0)))
    await asyncio.sleep(0)  # the first commit is under way
    rest = [asyncio.ensure_future(group.run(inserting(n))) for n in range(1, 8)]
    assert await asyncio.gather(first, *rest) == list(range(8))
    assert group.commits == 2
    assert await store.get("things", "t7") is not None


@pytest.mark.parametrize("copies", [1, 3])
async def test_dedup_remembers_each_event_once(store, copies):
    dedup = StoreDeduplicator(store)
    ids = [f"e{n}" for n in range(10)]
    await asyncio.gather(*(dedup.remember("q", i) for i in ids for _ in range(copies)))
    for event_id in ids:
        assert await dedup.seen("q", event_id)
    assert not await dedup.seen("q", "never")
    assert len(await store.find(COLLECTION)) == len(ids)


def runtime_over(store) -> Runtime:
    return Runtime("notes", Settings(), store=store, bus=InProcessBus())


def event() -> Envelope:
    return Envelope(type="case.created", version=1, source="t", workspace="w", data={})


async def test_a_handlers_writes_and_its_dedup_record_are_one_commit(store):
    runtime = runtime_over(store)
    handled = event()
    assert await runtime.handled_with(handled, inserting(1)) == 1
    assert runtime.consumer_writes.commits == 1
    assert await store.get("things", "t1") is not None
    assert await runtime.dedup.seen(runtime.queue, handled.id)
    # What the bus does after the handler: nothing left to commit.
    await runtime.dedup.remember(runtime.queue, handled.id)
    assert runtime.consumer_writes.commits == 1
    assert len(await store.find(COLLECTION)) == 1


async def test_a_failed_handler_write_leaves_no_dedup_record(store):
    await store.insert("things", {"id": "t1", "n": 0})
    runtime = runtime_over(store)
    failed = event()
    with pytest.raises(DuplicateKey):
        await runtime.handled_with(failed, inserting(1))
    assert not await runtime.dedup.seen(runtime.queue, failed.id)
    await runtime.dedup.remember(runtime.queue, failed.id)  # the bus remembers it itself
    assert await runtime.dedup.seen(runtime.queue, failed.id)


async def test_weights_cap_what_one_commit_carries(store):
    group = GroupCommit(store, max_writes=5)
    weights = [2, 2, 2, 1, 4, 7, 1]
    answers = await asyncio.gather(
        *(group.run(inserting(n), weight=w) for n, w in enumerate(weights))
    )
    assert answers == list(range(7))
    # [2, 2] [2, 1] [4] [7] [1]: a write heavier than the limit still goes, alone.
    assert group.commits == 5 and group.writes == 7 and group.largest == 2


async def test_a_write_redone_alone_goes_the_callers_way(store):
    await store.insert("things", {"id": "t3", "n": -1})
    group, committed = GroupCommit(store), []

    async def overwrite_t3() -> int:
        await store.update("things", "t3", {"n": 3})
        return 3

    results = await asyncio.gather(
        *(
            group.run(
                inserting(n),
                alone=overwrite_t3 if n == 3 else None,
                committed=partial(committed.append, n),
            )
            for n in range(6)
        ),
        group.run(inserting(3), committed=partial(committed.append, "again")),
        return_exceptions=True,
    )
    assert results[:6] == list(range(6))
    assert isinstance(results[6], DuplicateKey)
    assert (await store.get("things", "t3"))["n"] == 3
    # The shared transaction failed: each went alone, and only the failed one is not reported.
    assert sorted(committed) == list(range(6))
    assert group.commits == 6 and group.largest == 1


async def test_a_lone_write_goes_the_callers_way_at_once(store):
    group, calls = GroupCommit(store), []

    async def alone() -> str:
        calls.append("alone")
        return "alone"

    assert await group.run(inserting(1), alone=alone) == "alone"
    assert calls == ["alone"] and await store.get("things", "t1") is None
    assert group.commits == 1 and group.writes == 1
