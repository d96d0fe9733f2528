"""The outbox relay publishes what was written, in order, and only removes it once published."""

from __future__ import annotations

import asyncio

from casemesh.bus.memory import InProcessBus
from casemesh.bus.outbox import OutboxRelay
from casemesh.bus.port import BusUnavailable
from casemesh.events import Envelope


def envelope(n: int) -> Envelope:
    return Envelope(type="test.relay", version=1, source="t", workspace="w", data={"n": n})


class FlakyBus(InProcessBus):
    """The real in-process bus, made to refuse the first few publishes."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, envelope: Envelope) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise BusUnavailable("broker down (test)")
        await super().publish(envelope)


async def test_relay_publishes_in_order_after_the_bus_comes_back(store):
    bus = FlakyBus(failures=3)
    got: list[int] = []

    async def handler(e: Envelope) -> None:
        got.append(e.data["n"])

    subscription = await bus.subscribe("relay-test", ["test.relay"], handler, prefetch=1)
    for n in range(5):
        await store.insert("things", {"id": f"t{n}"}, events=[envelope(n)])
    relay = OutboxRelay(store, bus, poll_interval=0.05)
    relay.start()
    try:
        for _ in range(200):
            if len(got) == 5:
                break
            await asyncio.sleep(0.05)
        assert got == [0, 1, 2, 3, 4]
        assert await store.outbox_pending() == []
        assert bus.failures == 0
    finally:
        await relay.stop()
        await subscription.stop()
        await bus.close()


async def test_stop_drains_what_is_pending(store):
    bus = InProcessBus()
    got: list[int] = []

    async def handler(e: Envelope) -> None:
        got.append(e.data["n"])

    subscription = await bus.subscribe("drain-test", ["test.relay"], handler)
    relay = OutboxRelay(store, bus, poll_interval=60)
    relay.start()
    await asyncio.sleep(0.05)
    async with store.transaction() as tx:
        tx.emit(envelope(7))
    await relay.stop()
    await asyncio.sleep(0.05)
    assert got == [7]
    assert await store.outbox_pending() == []
    await subscription.stop()
    await bus.close()
