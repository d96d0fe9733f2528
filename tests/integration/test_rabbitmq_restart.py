"""A broker restart loses no event, and the consumer resumes by itself.

Restarts the real local RabbitMQ with ``rabbitmqctl stop_app``/``start_app``
(needs rights to run rabbitmqctl). Checks aio-pika's robust connection: the
subscription must come back without any help from the test.
"""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from casemesh.bus.port import BusUnavailable, Deduplicator
from casemesh.bus.rabbitmq import RabbitMQBus
from casemesh.events import Envelope
from tests.fixtures.rabbitmq import rabbitmq_test_bus, rabbitmqctl

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

BATCH = 20


class MemoryDedup(Deduplicator):
    def __init__(self) -> None:
        self.handled: set[tuple[str, str]] = set()

    async def seen(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self.handled

    async def remember(self, consumer: str, event_id: str) -> None:
        self.handled.add((consumer, event_id))


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def publish_retrying(bus: RabbitMQBus, events: list[Envelope]) -> int:
    """What the outbox relay does: retry each event until confirmed. Returns failures."""
    failures = 0
    for envelope in events:
        while True:
            try:
                await bus.publish(envelope)
                break
            except BusUnavailable:
                failures += 1
                await asyncio.sleep(0.2)
    return failures


def batch(tag: str) -> list[Envelope]:
    return [
        Envelope(type=f"restart.{tag}", version=1, source="tests", workspace="ws", data={"i": i})
        for i in range(BATCH)
    ]


@pytest.fixture
async def bus(amqp_url: str):
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: the RabbitMQ restart test needs the local broker")
    async with rabbitmq_test_bus(amqp_url) as rabbit:
        yield rabbit


async def test_consumer_survives_broker_restart(bus: RabbitMQBus) -> None:
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        await asyncio.sleep(0.05)  # slow enough that the restart hits work in progress
        handled.append(envelope.id)

    queue = f"test.restart.{bus.exchange_name.rsplit('.', 1)[-1]}"
    await bus.subscribe(queue, ["restart.#"], handle, dedup=MemoryDedup(), prefetch=2)

    # Not waiting for these: some are handled, some in flight, some still
    # queued in the broker when it stops.
    before = batch("before")
    await publish_retrying(bus, before)
    await rabbitmqctl("stop_app")
    handled_at_stop = len(handled)
    try:
        t0 = time.monotonic()
        with pytest.raises(BusUnavailable):
            await bus.ping()
        assert time.monotonic() - t0 < 4, "ping must not hang while the broker is down"
        with pytest.raises(BusUnavailable):
            await bus.publish(batch("lost")[0])
        # Publishing starts during the outage and keeps retrying, like the relay.
        after = batch("after")
        publisher = asyncio.create_task(publish_retrying(bus, after))
        await asyncio.sleep(0.5)
    finally:
        await rabbitmqctl("start_app")

    failures = await asyncio.wait_for(publisher, 30)
    assert failures > 0  # the outage really was seen by the publisher
    await until(lambda: len(handled) == 2 * BATCH, 30)
    await bus.ping()

    expected = [e.id for e in before + after]
    assert sorted(handled) == sorted(expected)  # none lost, none handled twice
    assert bus.stats.published == 2 * BATCH
    assert bus.stats.consumed == 2 * BATCH
    print(
        f"handled before the stop: {handled_at_stop}/{BATCH}; "
        f"redeliveries dropped by dedup: {bus.stats.duplicates}"
    )
