"""``publish_many``: several events in flight at once, delivered in order, each one's outcome."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from casemesh.bus.port import BusUnavailable, EventBus
from casemesh.bus.rabbitmq import RabbitMQBus
from casemesh.events import Envelope
from tests.fixtures.rabbitmq import rabbitmq_test_bus


def numbered(n: int) -> Envelope:
    kind = "case.routed" if n % 2 else "case.task.assigned"
    return Envelope(type=kind, version=1, source="tests", workspace="ws1", data={"n": n})


async def test_a_batch_arrives_whole_and_in_order(bus: EventBus) -> None:
    got: list[int] = []
    done = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        got.append(envelope.data["n"])
        if len(got) == 60:
            done.set()

    queue = f"test.many.{uuid.uuid4().hex[:8]}"
    # One handler at a time, so the order handled is the order delivered.
    subscription = await bus.subscribe(queue, ["case.#"], handle, prefetch=1)
    try:
        results = await bus.publish_many([numbered(n) for n in range(60)])
        assert results == [None] * 60
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await subscription.stop()
    assert got == list(range(60))
    assert bus.stats.published == 60
    assert bus.stats.by_type == {"case.routed": 30, "case.task.assigned": 30}


@pytest.mark.rabbitmq
async def test_rabbitmq_batch_carries_each_events_properties(amqp_url: str) -> None:
    async with rabbitmq_test_bus(amqp_url) as rabbit:
        queue = f"test.many.props.{uuid.uuid4().hex[:8]}"
        await (await rabbit.subscribe(queue, ["case.#"], _ignore)).stop()  # declare + bind
        sent = [numbered(n) for n in range(3)]
        assert await rabbit.publish_many(sent) == [None, None, None]
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            source = await channel.get_queue(queue)
            for envelope in sent:
                raw = await source.get(timeout=5)
                await raw.ack()
                assert raw.message_id == envelope.id
                assert raw.type == envelope.type
                assert raw.routing_key == envelope.type
                assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                assert raw.content_type == "application/json"
                assert Envelope.from_json_bytes(raw.body) == envelope


@pytest.mark.rabbitmq
async def test_rabbitmq_closed_bus_reports_every_event_unpublished(amqp_url: str) -> None:
    bus = RabbitMQBus(amqp_url, exchange=f"test.events.{uuid.uuid4().hex[:12]}")
    await bus.connect()
    await bus.close()
    results = await bus.publish_many([numbered(n) for n in range(3)])
    assert len(results) == 3
    assert all(isinstance(r, BusUnavailable) for r in results)
    with pytest.raises(BusUnavailable):
        await bus.publish(numbered(9))


async def _ignore(envelope: Envelope) -> None:
    return None
