"""The outbox relay publishes a batch, then deletes it with one store write."""

from __future__ import annotations

import asyncio

import pytest

from casemesh.bus import outbox as outbox_module
from casemesh.bus.memory import InProcessBus
from casemesh.bus.outbox import OutboxRelay
from casemesh.bus.port import BusUnavailable
from casemesh.events import Envelope


def envelope(n: int) -> Envelope:
    return Envelope(type="test.batch", version=1, source="t", workspace="w", data={"n": n})


class RecordingBus(InProcessBus):
    """The real in-process bus; it refuses the publish of event ``refuse`` once."""

    def __init__(self, refuse: int | None = None) -> None:
        super().__init__()
        self.refuse = refuse
        self.sent: list[int] = []

    async def publish(self, envelope: Envelope) -> None:
        if envelope.data["n"] == self.refuse:
            self.refuse = None
            raise BusUnavailable("refused (test)")
        self.sent.append(envelope.data["n"])
        await super().publish(envelope)


async def fill(store, count: int) -> None:
    async with store.transaction() as tx:
        for n in range(count):
            tx.emit(envelope(n))


async def test_a_batch_is_deleted_with_one_store_write(store, monkeypatch):
    await fill(store, 25)
    marks: list[list[int]] = []
    real = store.outbox_mark_published

    async def recording(seqs):
        marks.append(list(seqs))
        await real(seqs)

    monkeypatch.setattr(store, "outbox_mark_published", recording)
    bus = RecordingBus()
    relay = OutboxRelay(store, bus, batch_size=10)
    assert await relay.drain() == 25
    assert bus.sent == list(range(25))
    assert [len(m) for m in marks] == [10, 10, 5]
    assert await store.outbox_pending() == []
    await bus.close()


async def test_a_failed_publish_keeps_it_and_everything_after_it(store):
    await fill(store, 6)
    bus = RecordingBus(refuse=3)
    relay = OutboxRelay(store, bus, batch_size=10)
    with pytest.raises(BusUnavailable):
        await relay.drain()
    # 0-2 are gone; 3 failed; 4 and 5 went out but stay, to be published again.
    assert [r.envelope.data["n"] for r in await store.outbox_pending()] == [3, 4, 5]
    assert relay.published == 3
    assert await relay.drain() == 3
    assert bus.sent == [0, 1, 2, 4, 5, 3, 4, 5]
    assert await store.outbox_pending() == []
    await bus.close()


async def test_with_the_broker_down_nothing_after_the_first_goes_out(store):
    await fill(store, 4)
    bus = RecordingBus(refuse=0)
    relay = OutboxRelay(store, bus, batch_size=10)
    with pytest.raises(BusUnavailable):
        await relay.drain()
    assert bus.sent == []
    assert len(await store.outbox_pending()) == 4
    await bus.close()


class GatedBus(InProcessBus):
    """The real in-process bus, except that publishing waits for ``gate``; or always
    refuses (the broker down) when ``down``."""

    def __init__(self, *, down: bool = False) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.down = down

    async def publish(self, envelope: Envelope) -> None:
        if self.down:
            raise BusUnavailable("down (test)")
        await self.gate.wait()
        await super().publish(envelope)


@pytest.fixture
def low_water_marks(monkeypatch):
    monkeypatch.setattr(outbox_module, "HIGH_WATER", 5)
    monkeypatch.setattr(outbox_module, "LOW_WATER", 2)
    monkeypatch.setattr(outbox_module, "MAX_HOLD", 30.0)


async def test_a_write_waits_for_room_while_the_relay_is_far_behind(store, low_water_marks):
    bus = GatedBus()
    relay = OutboxRelay(store, bus, batch_size=3)
    relay.start()
    try:
        await relay.room()  # nothing waiting: no hold
        await fill(store, 8)  # past the high-water mark; the relay is stuck at the gate
        held = asyncio.create_task(relay.room())
        await asyncio.sleep(0.2)
        assert not held.done()
        bus.gate.set()
        await asyncio.wait_for(held, 5)
        assert relay.unpublished <= 2
    finally:
        bus.gate.set()
        await relay.stop()
        await bus.close()
    assert await store.outbox_pending() == []


async def test_the_hold_is_bounded(store, low_water_marks, monkeypatch):
    monkeypatch.setattr(outbox_module, "MAX_HOLD", 0.2)
    bus = GatedBus()
    relay = OutboxRelay(store, bus)
    relay.start()
    try:
        await fill(store, 8)
        began = asyncio.get_running_loop().time()
        await asyncio.wait_for(relay.room(), 5)  # returns: held no longer than MAX_HOLD
        assert asyncio.get_running_loop().time() - began >= 0.15
    finally:
        bus.gate.set()
        await relay.stop()
        await bus.close()


async def test_no_write_waits_while_the_relay_cannot_publish(store, low_water_marks):
    bus = GatedBus(down=True)
    relay = OutboxRelay(store, bus)
    relay.start()
    try:
        await fill(store, 8)
        for _ in range(100):  # until the relay has tried and failed
            if relay._failing:
                break
            await asyncio.sleep(0.02)
        assert relay._failing
        await asyncio.wait_for(relay.room(), 0.1)  # no hold: writes go on into the outbox
    finally:
        relay.paused = True  # stop without a last drain against a broker that is down
        await relay.stop()
        await bus.close()
    assert len(await store.outbox_pending()) == 8
