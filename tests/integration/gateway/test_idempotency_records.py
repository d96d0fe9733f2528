"""Idempotency-Key records on each real document-store adapter, on a clock the test moves."""

from __future__ import annotations

from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from gateway.idempotency_store import (
    COLLECTION,
    Busy,
    Claimed,
    Finished,
    IdempotencyRecords,
    lease_seconds,
    record_id,
)

SETTINGS = Settings(idempotency_ttl=100.0)
LEASE = lease_seconds(SETTINGS)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def records_on(store: DocumentStore, clock: Clock) -> IdempotencyRecords:
    return IdempotencyRecords(SETTINGS, lambda: store, clock=clock)


async def test_one_claim_at_a_time_then_the_answer_is_replayed(store):
    records = records_on(store, Clock())
    claim = await records.claim("ws/u1", "k1", "POST", "/api/x")
    assert isinstance(claim, Claimed)
    assert isinstance(await records.claim("ws/u1", "k1", "POST", "/api/x"), Busy)
    other = await records.claim("ws/u2", "k1", "POST", "/api/x")  # another caller's key
    assert isinstance(other, Claimed) and other.doc_id != claim.doc_id
    headers = [("Content-Type", "application/json"), ("Location", "/api/x/1")]
    await records.finish(claim, "f" * 64, 201, headers, b'{"id": 1}')
    done = await records.claim("ws/u1", "k1", "POST", "/api/x")
    assert done == Finished("POST", "/api/x", "f" * 64, 201, headers, b'{"id": 1}')


async def test_a_released_key_can_be_claimed_again(store):
    records = records_on(store, Clock())
    claim = await records.claim("ws/u1", "k2", "POST", "/api/x")
    assert isinstance(claim, Claimed)
    await records.release(claim)
    assert await store.get(COLLECTION, record_id("ws/u1", "k2")) is None
    assert isinstance(await records.claim("ws/u1", "k2", "POST", "/api/x"), Claimed)


async def test_a_claim_past_its_lease_is_taken_over_and_its_late_answer_dropped(store):
    clock = Clock()
    records = records_on(store, clock)
    stuck = await records.claim("ws/u1", "k3", "POST", "/api/x")
    clock.now += LEASE - 1
    assert isinstance(await records.claim("ws/u1", "k3", "POST", "/api/x"), Busy)
    clock.now += 2
    fresh = await records.claim("ws/u1", "k3", "POST", "/api/x")
    assert isinstance(fresh, Claimed) and isinstance(stuck, Claimed)
    assert fresh.version > stuck.version
    await records.finish(stuck, "old", 200, [], b"late")  # ignored: not its key any more
    await records.release(stuck)  # ignored too
    assert isinstance(await records.claim("ws/u1", "k3", "POST", "/api/x"), Busy)
    await records.finish(fresh, "new", 200, [], b"fresh")
    done = await records.claim("ws/u1", "k3", "POST", "/api/x")
    assert isinstance(done, Finished) and done.body == b"fresh"


async def test_answers_expire_and_are_purged(store):
    clock = Clock()
    records = records_on(store, clock)
    old = await records.claim("ws/u1", "old", "POST", "/api/x")
    assert isinstance(old, Claimed)
    await records.finish(old, "f", 200, [], b"")
    clock.now += 60
    young = await records.claim("ws/u1", "young", "POST", "/api/x")
    assert isinstance(young, Claimed)
    await records.finish(young, "f", 200, [], b"")
    clock.now += 50  # old is 110 s old (ttl 100), young 50 s
    assert await records.purge() == 1
    assert await store.get(COLLECTION, record_id("ws/u1", "old")) is None
    assert isinstance(await records.claim("ws/u1", "young", "POST", "/api/x"), Finished)
    clock.now += 60  # young expired but not purged yet: treated as absent
    assert isinstance(await records.claim("ws/u1", "young", "POST", "/api/x"), Claimed)
