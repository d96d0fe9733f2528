"""One contract for both event buses: the in-process bus and real RabbitMQ.

Every test runs twice (the ``bus`` fixture of tests/fixtures/rabbitmq.py); the
RabbitMQ run talks to the broker from ``amqp_url`` on a private exchange and queues.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aio_pika
import pytest

from casemesh.bus.port import Deduplicator, EventBus, RetryPolicy
from casemesh.bus.rabbitmq import RabbitMQBus
from casemesh.events import Envelope
from tests.fixtures.rabbitmq import rabbitmq_test_bus

FAST_RETRY = RetryPolicy(max_attempts=3, retry_delays=(0.05, 0.1))


@pytest.fixture
def queue() -> Callable[[str], str]:
    """Unique queue names, so RabbitMQ runs never share a queue."""
    run = uuid.uuid4().hex[:8]
    return lambda label: f"test.{label}.{run}"


class MemoryDedup(Deduplicator):
    """Test double of our own Deduplicator port."""

    def __init__(self) -> None:
        self.handled: set[tuple[str, str]] = set()

    async def seen(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self.handled

    async def remember(self, consumer: str, event_id: str) -> None:
        self.handled.add((consumer, event_id))


def event(event_type: str = "case.created", **fields: object) -> Envelope:
    return Envelope(type=event_type, version=1, source="tests", workspace="ws1", **fields)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def recorder(into: list[Envelope]) -> Callable[[Envelope], Awaitable[None]]:
    async def handle(envelope: Envelope) -> None:
        into.append(envelope)

    return handle


async def test_publish_then_consume(bus: EventBus, queue: Callable[[str], str]) -> None:
    got: list[Envelope] = []
    await bus.subscribe(queue("basic"), ["case.created"], recorder(got))
    sent = event(data={"n": 1})
    await bus.publish(sent)
    await until(lambda: bus.stats.consumed == 1)
    assert got == [sent]
    assert bus.stats.published == 1
    assert bus.stats.by_type == {"case.created": 1}


async def test_every_envelope_field_survives(bus: EventBus, queue: Callable[[str], str]) -> None:
    got: list[Envelope] = []
    await bus.subscribe(queue("fields"), ["case.task.routed"], recorder(got))
    sent = Envelope(
        id="evt-0001",
        type="case.task.routed",
        version=3,
        time=datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
        source="cases",
        workspace="workflow",
        subject="case-42",
        correlation_id="req-7f3a",
        data={"to": ["ana", "bö"], "n": 1.5, "none": None, "nested": {"ok": True}},
    )
    await bus.publish(sent)
    await until(lambda: len(got) == 1)
    assert got[0] == sent
    assert got[0].correlation_id == "req-7f3a"
    assert got[0].time == sent.time


async def test_routing_patterns(bus: EventBus, queue: Callable[[str], str]) -> None:
    star: list[Envelope] = []
    hash_: list[Envelope] = []
    exact: list[Envelope] = []
    # Every queue also binds "fence.done", published last: once each queue has
    # its fence, anything that was going to arrive has arrived.
    await bus.subscribe(queue("star"), ["case.*", "fence.done"], recorder(star), prefetch=1)
    await bus.subscribe(queue("hash"), ["case.#", "fence.done"], recorder(hash_), prefetch=1)
    await bus.subscribe(queue("exact"), ["note.created", "fence.done"], recorder(exact), prefetch=1)
    for t in ("case.created", "case.task.routed", "note.created", "other.thing", "cases.x"):
        await bus.publish(event(t))
    await bus.publish(event("fence.done"))
    await until(lambda: all(got and got[-1].type == "fence.done" for got in (star, hash_, exact)))
    assert [e.type for e in star] == ["case.created", "fence.done"]
    assert [e.type for e in hash_] == ["case.created", "case.task.routed", "fence.done"]
    assert [e.type for e in exact] == ["note.created", "fence.done"]


async def test_each_queue_gets_its_own_copy(bus: EventBus, queue: Callable[[str], str]) -> None:
    notes: list[Envelope] = []
    mail: list[Envelope] = []
    await bus.subscribe(queue("notes"), ["case.#"], recorder(notes))
    await bus.subscribe(queue("mail"), ["case.#"], recorder(mail))
    sent = [event() for _ in range(3)]
    for e in sent:
        await bus.publish(e)
    await until(lambda: len(notes) == 3 and len(mail) == 3)
    assert sorted(e.id for e in notes) == sorted(e.id for e in sent)
    assert sorted(e.id for e in mail) == sorted(e.id for e in sent)


async def test_competing_consumers_split_the_work(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    by_worker: dict[str, list[str]] = {"a": [], "b": []}

    def worker(name: str) -> Callable[[Envelope], Awaitable[None]]:
        async def handle(envelope: Envelope) -> None:
            by_worker[name].append(envelope.id)
            await asyncio.sleep(0.03)  # keep each busy so the other gets a share

        return handle

    shared = queue("shared")
    await bus.subscribe(shared, ["case.#"], worker("a"), prefetch=1)
    await bus.subscribe(shared, ["case.#"], worker("b"), prefetch=1)
    sent = [event() for _ in range(10)]
    for e in sent:
        await bus.publish(e)
    await until(lambda: bus.stats.consumed == 10)
    handled = by_worker["a"] + by_worker["b"]
    assert sorted(handled) == sorted(e.id for e in sent)  # each exactly once
    assert by_worker["a"] and by_worker["b"]


async def test_prefetch_bounds_handlers_in_flight(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    now = peak = 0

    async def handle(envelope: Envelope) -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.05)
        now -= 1

    await bus.subscribe(queue("prefetch"), ["case.#"], handle, prefetch=3)
    for _ in range(12):
        await bus.publish(event())
    await until(lambda: bus.stats.consumed == 12)
    assert peak == 3


async def test_failed_handler_is_retried_with_backoff(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    attempts: list[float] = []

    async def flaky(envelope: Envelope) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("not yet")

    name = queue("retry")
    await bus.subscribe(name, ["case.#"], flaky, retry=RetryPolicy(5, (0.05, 0.2)))
    await bus.publish(event())
    await until(lambda: bus.stats.consumed == 1)
    assert len(attempts) == 3
    # Waited at least the policy's delay before each new attempt.
    assert attempts[1] - attempts[0] >= 0.045
    assert attempts[2] - attempts[1] >= 0.19
    assert bus.stats.retried == 2
    assert bus.stats.dead_lettered == 0
    assert await bus.dead_letters(name) == []


async def test_dead_letter_after_max_attempts(bus: EventBus, queue: Callable[[str], str]) -> None:
    calls = 0

    async def broken(envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("always fails")

    name = queue("dead")
    await bus.subscribe(name, ["case.#"], broken, retry=FAST_RETRY)
    doomed = event(correlation_id="req-dead")
    await bus.publish(doomed)
    await until(lambda: bus.stats.dead_lettered == 1)
    assert calls == FAST_RETRY.max_attempts
    assert bus.stats.retried == FAST_RETRY.max_attempts - 1
    assert bus.stats.consumed == 0
    assert await bus.dead_letters(name) == [doomed]
    assert await bus.dead_letters(name) == [doomed]  # reading does not remove
    assert await bus.dead_letters(name, limit=0) == []
    assert await bus.dead_letters(queue("never-declared")) == []
    await asyncio.sleep(0.3)  # nothing comes back from the dead-letter queue
    assert calls == FAST_RETRY.max_attempts


async def test_dedup_drops_a_republished_event(bus: EventBus, queue: Callable[[str], str]) -> None:
    got: list[Envelope] = []
    dedup = MemoryDedup()
    name = queue("dedup")
    await bus.subscribe(name, ["case.#"], recorder(got), dedup=dedup)
    once = event()
    await bus.publish(once)
    await until(lambda: len(dedup.handled) == 1)
    await bus.publish(once)  # e.g. the outbox relay lost the confirm and re-sent
    await until(lambda: bus.stats.duplicates == 1)
    assert got == [once]
    assert dedup.handled == {(name, once.id)}
    assert bus.stats.consumed == 1


async def test_failing_dedup_store_is_a_failed_attempt(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    class FlakyDedup(MemoryDedup):
        failures = 1

        async def seen(self, consumer: str, event_id: str) -> bool:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("dedup store down")
            return await super().seen(consumer, event_id)

    got: list[Envelope] = []
    await bus.subscribe(
        queue("flaky-dedup"), ["case.#"], recorder(got), retry=FAST_RETRY, dedup=FlakyDedup()
    )
    sent = event()
    await bus.publish(sent)
    await until(lambda: bus.stats.consumed == 1)
    assert got == [sent]
    assert bus.stats.retried == 1


async def test_events_before_any_queue_are_dropped(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    got: list[Envelope] = []
    early, late = event(), event()
    await bus.publish(early)
    await bus.subscribe(queue("late"), ["case.#"], recorder(got))
    await bus.publish(late)
    await until(lambda: len(got) == 1)
    await asyncio.sleep(0.1)
    assert got == [late]


async def test_stop_waits_for_in_flight_and_queue_keeps_events(
    bus: EventBus, queue: Callable[[str], str]
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(envelope: Envelope) -> None:
        started.set()
        await release.wait()
        finished.append(envelope.id)

    name = queue("stop")
    sub = await bus.subscribe(name, ["case.#"], slow)
    first = event()
    await bus.publish(first)
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(sub.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # still waiting for the handler
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == [first.id]
    assert bus.stats.consumed == 1

    # Stopped: a new event waits in the queue for the next consumer.
    second = event()
    await bus.publish(second)
    await asyncio.sleep(0.2)
    assert finished == [first.id]
    got: list[Envelope] = []
    await bus.subscribe(name, ["case.#"], recorder(got))
    await until(lambda: len(got) == 1)
    assert got == [second]


async def test_closed_bus_is_unavailable(bus: EventBus) -> None:
    from casemesh.bus.port import BusUnavailable

    await bus.ping()
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.ping()
    with pytest.raises(BusUnavailable):
        await bus.publish(event())


# RabbitMQ-only: what goes over the wire and what happens to garbage on it.


@pytest.fixture
async def rabbit(amqp_url: str) -> AsyncIterator[RabbitMQBus]:
    async with rabbitmq_test_bus(amqp_url) as rabbit_bus:
        yield rabbit_bus


@pytest.mark.rabbitmq
async def test_rabbitmq_message_properties(
    rabbit: RabbitMQBus, amqp_url: str, queue: Callable[[str], str]
) -> None:
    name = queue("wire")
    await (await rabbit.subscribe(name, ["case.#"], recorder([]))).stop()  # declare + bind
    sent = event(correlation_id="req-wire")
    await rabbit.publish(sent)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        raw = await (await channel.get_queue(name)).get(timeout=5)
        await raw.ack()
    assert raw.message_id == sent.id
    assert raw.correlation_id == "req-wire"
    assert raw.content_type == "application/json"
    assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert raw.routing_key == "case.created"
    assert Envelope.from_json_bytes(raw.body) == sent


@pytest.mark.rabbitmq
async def test_rabbitmq_undecodable_message_goes_to_dead_letter(
    rabbit: RabbitMQBus, amqp_url: str, queue: Callable[[str], str]
) -> None:
    got: list[Envelope] = []
    name = queue("garbage")
    await rabbit.subscribe(name, ["case.#"], recorder(got), retry=FAST_RETRY)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(rabbit.exchange_name)
        await exchange.publish(aio_pika.Message(b"{not json", message_id="bad-1"), "case.created")
        await until(lambda: rabbit.stats.dead_lettered == 1)
        dead = await (await channel.get_queue(f"{name}.dead")).get(timeout=5)
        await dead.ack()
    assert got == []
    assert rabbit.stats.retried == 0  # garbage is not retried
    assert dead.body == b"{not json"
    assert dead.message_id == "bad-1"
    assert "ValidationError" in str(dead.headers["x-error"])


@pytest.mark.rabbitmq
async def test_rabbitmq_dead_letter_headers(
    rabbit: RabbitMQBus, amqp_url: str, queue: Callable[[str], str]
) -> None:
    async def broken(envelope: Envelope) -> None:
        raise KeyError("missing")

    name = queue("dead-headers")
    await rabbit.subscribe(name, ["case.#"], broken, retry=FAST_RETRY)
    sent = event("case.closed", correlation_id="req-dh")
    await rabbit.publish(sent)
    await until(lambda: rabbit.stats.dead_lettered == 1)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dead = await (await channel.get_queue(f"{name}.dead")).get(timeout=5)
        await dead.ack()
    assert dead.headers["x-attempt"] == FAST_RETRY.max_attempts
    assert dead.headers["x-error"] == "KeyError: 'missing'"
    assert dead.headers["x-original-routing-key"] == "case.closed"
    assert dead.message_id == sent.id
    assert dead.correlation_id == "req-dh"
    assert dead.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert Envelope.from_json_bytes(dead.body) == sent
