"""RabbitMQ event bus on aio-pika (production adapter).

Topology, all durable:
- one topic exchange (``casemesh.events`` by default); routing key = event type;
- per subscribed queue ``q``: the queue itself bound to its patterns, one
  ``q.retry.<ms>`` queue per retry delay (messages wait out their TTL there and
  are dead-lettered back to ``q`` through the default exchange), and ``q.dead``.

Usage::

    bus = RabbitMQBus(settings.amqp_url, exchange=settings.amqp_exchange)
    await bus.connect()      # optional: fail fast at start-up; otherwise lazy
    ...
    await bus.close()

The connection is a robust one: after a broker restart aio-pika reconnects,
re-declares the channels' exchanges, queues and bindings and restarts the
consumers (checked by tests/integration/test_rabbitmq_restart.py). Publishes
during an outage raise ``BusUnavailable`` at once; the caller (outbox relay)
retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity
from aiormq import spec
from pydantic import ValidationError

from casemesh.bus.port import (
    BusStats,
    BusUnavailable,
    Deduplicator,
    EventBus,
    Handler,
    RetryPolicy,
    Subscription,
)
from casemesh.events import Envelope

log = logging.getLogger(__name__)

JSON = "application/json"
ATTEMPT_HEADER = "x-attempt"
# Back from a retry queue the routing key is the queue name; keep the event's.
ORIGINAL_KEY = "x-original-routing-key"
# What can go wrong talking to the broker (aio-pika's own list plus timeouts).
_BROKER_ERRORS = (TimeoutError, *CONNECTION_EXCEPTIONS)


def retry_queue_name(queue: str, delay: float) -> str:
    return f"{queue}.retry.{round(delay * 1000)}"


def _attempt_of(message: AbstractIncomingMessage) -> int:
    try:
        return max(1, int(message.headers.get(ATTEMPT_HEADER, 1)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1


def _original_key(message: AbstractIncomingMessage) -> str:
    return str(message.headers.get(ORIGINAL_KEY) or message.routing_key or "")


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """The same event, re-published to a retry or dead-letter queue."""
    return aio_pika.Message(
        message.body,
        headers={**message.headers, **headers},
        content_type=message.content_type or JSON,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        timestamp=message.timestamp,
        type=message.type,
    )


class _RabbitSubscription(Subscription):
    def __init__(
        self,
        bus: RabbitMQBus,
        channel: AbstractRobustChannel,
        queue: AbstractRobustQueue,
        handler: Handler,
        retry: RetryPolicy,
        dedup: Deduplicator | None,
    ) -> None:
        self._bus = bus
        self._channel = channel
        self._queue = queue
        self._handler = handler
        self._retry = retry
        self._dedup = dedup
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        # robust=True (default): aio-pika re-consumes after a reconnect.
        self._tag = await self._queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aiormq runs this in a task it cancels when the channel drops; run the
        # handler in our own task so stop() can wait for it and a connection
        # blip doesn't interrupt it half-way (the unacked message is redelivered).
        if self._stopping:
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.nack(requeue=True)
            return
        task = asyncio.create_task(self._process(message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        name = self._queue.name
        stats = self._bus.stats
        try:
            try:
                envelope = Envelope.from_json_bytes(message.body)
            except ValidationError as exc:  # garbage never gets better: no retries
                await self._dead_letter(message, _attempt_of(message), exc)
                return
            attempt = _attempt_of(message)
            try:
                # Dedup-store failures count as failed attempts too (retried
                # with back-off rather than redelivered in a tight loop).
                if self._dedup is not None and await self._dedup.seen(name, envelope.id):
                    stats.duplicates += 1
                else:
                    await self._handler(envelope)
                    stats.consumed += 1  # handled, even if the ack below is lost
                    if self._dedup is not None:
                        await self._dedup.remember(name, envelope.id)
            except Exception as exc:
                if attempt >= self._retry.max_attempts:
                    await self._dead_letter(message, attempt, exc)
                else:
                    await self._retry_later(message, attempt, exc)
                return
            await message.ack()
        except Exception as exc:
            # Broker trouble while settling: leave the message to be delivered
            # again (a closed channel requeues it by itself).
            log.warning("bus %s: could not settle %s: %r", name, message.message_id, exc)
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.nack(requeue=True)

    async def _retry_later(
        self, message: AbstractIncomingMessage, attempt: int, exc: Exception
    ) -> None:
        delay = self._retry.delay_for(attempt)
        log.info(
            "bus %s: %s failed (attempt %d): %r", self._queue.name, message.message_id, attempt, exc
        )
        # Confirmed publish first, then ack: a crash in between duplicates, never loses.
        await self._channel.default_exchange.publish(
            _copy(message, {ATTEMPT_HEADER: attempt + 1, ORIGINAL_KEY: _original_key(message)}),
            routing_key=retry_queue_name(self._queue.name, delay),
            timeout=self._bus.op_timeout,
        )
        await message.ack()
        self._bus.stats.retried += 1

    async def _dead_letter(
        self, message: AbstractIncomingMessage, attempt: int, exc: Exception
    ) -> None:
        log.warning(
            "bus %s: %s dead-lettered after %d attempts: %r",
            self._queue.name,
            message.message_id,
            attempt,
            exc,
        )
        headers = {
            ATTEMPT_HEADER: attempt,
            "x-error": f"{type(exc).__name__}: {exc}"[:1000],
            ORIGINAL_KEY: _original_key(message),
        }
        await self._channel.default_exchange.publish(
            _copy(message, headers),
            routing_key=f"{self._queue.name}.dead",
            timeout=self._bus.op_timeout,
        )
        await message.ack()
        self._bus.stats.dead_lettered += 1

    async def stop(self) -> None:
        if self._stopping:
            return
        timeout = self._bus.op_timeout
        if self._tag is not None:
            # Cancelling also stops aio-pika from restoring the consumer later.
            with contextlib.suppress(*_BROKER_ERRORS):
                await asyncio.wait_for(self._queue.cancel(self._tag), timeout)
        self._stopping = True
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        with contextlib.suppress(*_BROKER_ERRORS):
            await asyncio.wait_for(self._channel.close(), timeout)
        self._bus._subscriptions.discard(self)


class RabbitMQBus(EventBus):
    """Event bus on RabbitMQ.

    ``RabbitMQBus(url, exchange="casemesh.events")`` does no I/O. ``await
    connect()`` opens the robust connection and declares the exchange (raises
    ``BusUnavailable`` if the broker cannot be reached); ``publish``,
    ``subscribe``, ``dead_letters`` and ``ping`` connect lazily if it wasn't
    called. ``close()`` stops every subscription (waiting for in-flight
    handlers) and closes the connection.
    """

    def __init__(
        self,
        url: str,
        exchange: str = "casemesh.events",
        *,
        op_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        self.stats = BusStats()
        self.url = url
        self.exchange_name = exchange
        # Upper bound for any single broker round trip (confirm, declare, get).
        self.op_timeout = op_timeout
        self._reconnect_interval = reconnect_interval
        self._connection: aio_pika.RobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractRobustExchange | None = None
        self._connect_lock = asyncio.Lock()
        self._subscriptions: set[_RabbitSubscription] = set()
        self._declared: set[str] = set()
        self._closed = False

    @property
    def declared_queues(self) -> frozenset[str]:
        """Every queue this bus declared (for clean-up by tests and tools)."""
        return frozenset(self._declared)

    async def connect(self) -> None:
        async with self._connect_lock:
            if self._closed:
                raise BusUnavailable("bus is closed")
            if self._connection is not None:
                return
            # Built by hand rather than via connect_robust() so a failed first
            # connect can be closed (no half-open connection left behind).
            connection = aio_pika.RobustConnection(
                aio_pika.connection.make_url(self.url),
                reconnect_interval=self._reconnect_interval,
            )
            try:
                await connection.connect(timeout=self.op_timeout)
                publisher = await connection.channel(publisher_confirms=True)
                exchange = await publisher.declare_exchange(
                    self.exchange_name,
                    aio_pika.ExchangeType.TOPIC,
                    durable=True,
                    timeout=self.op_timeout,
                )
            except _BROKER_ERRORS as exc:
                await connection.close()
                raise BusUnavailable(f"cannot connect to RabbitMQ: {exc!r}") from exc
            self._connection, self._publisher, self._exchange = connection, publisher, exchange

    async def _ready(self) -> aio_pika.RobustConnection:
        if self._connection is None:
            await self.connect()
        assert self._connection is not None
        if self._closed or not self._connection.connected.is_set():
            raise BusUnavailable("not connected to RabbitMQ (reconnecting)")
        return self._connection

    async def publish(self, envelope: Envelope) -> None:
        failure = (await self.publish_many([envelope]))[0]
        if failure is not None:
            raise failure

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        """Publish in order, all in flight at once; each one's failure, or None once confirmed.

        The frames go straight to the publisher channel (aiormq) without
        waiting for each to be written before the next, and one deadline
        covers the lot: aio-pika's ``Exchange.publish`` waited for every frame
        to drain under the channel's lock and ``wait_for`` made a task per
        publish, which together cost more CPU than the publish itself.
        """
        if not envelopes:
            return []
        try:
            await self._ready()
            assert self._publisher is not None
            async with asyncio.timeout(self.op_timeout):
                channel = await self._publisher.get_underlay_channel()
        except (BusUnavailable, *_BROKER_ERRORS) as exc:
            error = exc if isinstance(exc, BusUnavailable) else BusUnavailable(repr(exc))
            return [error for _ in envelopes]
        # Tasks start in order and each writes its frames before its first
        # wait, so the broker sees the events in this order.
        sends = [asyncio.ensure_future(self._send(channel, e)) for e in envelopes]
        try:
            _, late = await asyncio.wait(sends, timeout=self.op_timeout)
        except asyncio.CancelledError:
            for task in sends:
                task.cancel()
            raise
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        failures: list[BaseException | None] = []
        for envelope, task in zip(envelopes, sends, strict=True):
            result = TimeoutError() if task in late else task.exception()
            if result is None:
                failures.append(None)
                self.stats.published += 1
                self.stats.by_type[envelope.type] = self.stats.by_type.get(envelope.type, 0) + 1
            elif isinstance(result, _BROKER_ERRORS):
                failures.append(
                    BusUnavailable(f"publish of {envelope.id} not confirmed: {result!r}")
                )
            else:
                failures.append(result)
        return failures

    async def _send(self, channel: Any, envelope: Envelope) -> None:
        properties = spec.Basic.Properties(
            content_type=JSON,
            delivery_mode=int(aio_pika.DeliveryMode.PERSISTENT),
            headers={},
            message_id=envelope.id,
            correlation_id=envelope.correlation_id or None,
            timestamp=envelope.time,
            message_type=envelope.type,
            priority=0,
        )
        # Waits for the broker's confirm; a nack raises DeliveryError.
        await channel.basic_publish(
            envelope.to_json_bytes(),
            exchange=self.exchange_name,
            routing_key=envelope.routing_key,
            properties=properties,
            mandatory=True,
            wait=False,
        )

    async def subscribe(
        self,
        queue: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 16,
        retry: RetryPolicy = RetryPolicy(),
        dedup: Deduplicator | None = None,
    ) -> Subscription:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        connection = await self._ready()
        # One channel per subscription: QoS (prefetch) is per channel, and
        # aio-pika restores its declarations and consumer after a reconnect.
        channel = await connection.channel(publisher_confirms=True)
        try:
            sub = await self._declare(channel, queue, patterns, handler, prefetch, retry, dedup)
            await sub.start()
        except _BROKER_ERRORS as exc:
            with contextlib.suppress(*_BROKER_ERRORS):
                await asyncio.wait_for(channel.close(), self.op_timeout)
            raise BusUnavailable(f"cannot subscribe {queue}: {exc!r}") from exc
        self._subscriptions.add(sub)
        return sub

    async def _declare(
        self,
        channel: AbstractRobustChannel,
        queue: str,
        patterns: Sequence[str],
        handler: Handler,
        prefetch: int,
        retry: RetryPolicy,
        dedup: Deduplicator | None,
    ) -> _RabbitSubscription:
        t = self.op_timeout
        await channel.set_qos(prefetch_count=prefetch, timeout=t)
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, timeout=t
        )
        main = await channel.declare_queue(queue, durable=True, timeout=t)
        for pattern in patterns:
            await main.bind(exchange, routing_key=pattern, timeout=t)
        names = [queue, f"{queue}.dead"]
        await channel.declare_queue(f"{queue}.dead", durable=True, timeout=t)
        delays = {retry.delay_for(a) for a in range(1, retry.max_attempts)}
        for delay in sorted(delays):
            name = retry_queue_name(queue, delay)
            names.append(name)
            await channel.declare_queue(
                name,
                durable=True,
                timeout=t,
                arguments={
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": queue,
                },
            )
        self._declared.update(names)
        return _RabbitSubscription(self, channel, main, handler, retry, dedup)

    async def dead_letters(self, queue: str, limit: int = 100) -> list[Envelope]:
        """Peek: take up to ``limit`` messages unacked, then requeue them all.

        Messages whose body is not an envelope stay in the queue but are not listed.
        """
        connection = await self._ready()
        t = self.op_timeout
        bodies: list[bytes] = []
        try:
            # A plain (non-robust) channel: a 404 on the passive declare closes
            # it, and aio-pika must not try to "restore" it.
            async with asyncio.timeout(t * 2):
                transport = connection.transport
                if transport is None:
                    raise BusUnavailable("not connected to RabbitMQ (reconnecting)")
                channel = await transport.connection.channel(publisher_confirms=False)
                try:
                    await channel.queue_declare(f"{queue}.dead", passive=True)
                    last_tag = None
                    while len(bodies) < limit:
                        got = await channel.basic_get(f"{queue}.dead", no_ack=False)
                        if not isinstance(got.delivery, spec.Basic.GetOk):
                            break
                        bodies.append(got.body)
                        last_tag = got.delivery.delivery_tag
                    if last_tag is not None:
                        await channel.basic_nack(last_tag, multiple=True, requeue=True)
                finally:
                    if not channel.is_closed:
                        await channel.close()
        except ChannelNotFoundEntity:
            return []
        except _BROKER_ERRORS as exc:
            raise BusUnavailable(f"cannot read {queue}.dead: {exc!r}") from exc
        envelopes = []
        for body in bodies:
            with contextlib.suppress(ValidationError):
                envelopes.append(Envelope.from_json_bytes(body))
        return envelopes

    async def ping(self) -> None:
        await self._ready()
        assert self._publisher is not None
        try:
            # A real round trip, bounded, so a half-dead connection can't hang us.
            async with asyncio.timeout(min(self.op_timeout, 3.0)):
                channel = await self._publisher.get_underlay_channel()
                await channel.exchange_declare(exchange=self.exchange_name, passive=True)
        except _BROKER_ERRORS as exc:
            raise BusUnavailable(f"RabbitMQ did not answer: {exc!r}") from exc

    async def close(self) -> None:
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.stop()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
