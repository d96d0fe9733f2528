"""A service outside Casemesh that subscribes to its events, written from docs/asyncapi.yaml alone.

It needs only aio-pika (no Casemesh code): it binds its own durable queue to the
Casemesh topic exchange with routing-key patterns, then for each event prints
its type, version, id, subject and data, and acks it. Delivery is at least
once, so it drops an event whose envelope id it has already handled.

    python examples/subscriber.py --queue reporting.events --pattern 'case.#' --pattern note.created

Stop it with Ctrl-C. The queue stays (durable): events published while the
subscriber is down wait there. Delete it when you are done:
``rabbitmqctl delete_queue reporting.events``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections import OrderedDict

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractIncomingMessage

# The envelope versions this subscriber understands, per event type ("*": any type).
KNOWN_VERSIONS = {"*": {1}}
SEEN_IDS_KEPT = 10_000  # a real service keeps handled ids in its own database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print Casemesh events from RabbitMQ.")
    parser.add_argument(
        "--url", default="amqp://guest:guest@127.0.0.1:5672/", help="AMQP URL of the broker"
    )
    parser.add_argument("--exchange", default="casemesh.events", help="Casemesh's topic exchange")
    parser.add_argument(
        "--queue",
        default="example.subscriber",
        help="your own durable queue (never one of Casemesh's casemesh.* queues)",
    )
    parser.add_argument(
        "--pattern",
        action="append",
        dest="patterns",
        help="routing-key pattern to bind, repeatable: '*' one word, '#' zero or more "
        "(default: '#', every event)",
    )
    parser.add_argument("--prefetch", type=int, default=16, help="unacked events at a time")
    parser.add_argument(
        "--passive-exchange",
        action="store_true",
        help="only check that the exchange exists (for a user without configure permission)",
    )
    parser.add_argument(
        "--max-events", type=int, default=0, help="exit after this many events (0: run forever)"
    )
    return parser.parse_args(argv)


class Printer:
    """Handles one delivery: parse, skip duplicates and unknown versions, print, ack."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.handled = 0
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.done = asyncio.Event()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        if self.done.is_set() or (self.max_events and self.handled >= self.max_events):
            await message.nack(requeue=True)  # stopping: leave it in the queue for next time
            return
        try:
            event = json.loads(message.body)
            event_id, event_type, version = event["id"], event["type"], event["version"]
        except (ValueError, KeyError, TypeError) as exc:
            print(f"not an event envelope ({exc!r}); rejected", file=sys.stderr, flush=True)
            await message.reject(requeue=False)  # dropped, or dead-lettered if your queue has a DLX
            return
        if event_id in self.seen:
            print(f"duplicate {event_type} id={event_id} (already handled)", flush=True)
            await message.ack()
            return
        known = KNOWN_VERSIONS.get(event_type, KNOWN_VERSIONS["*"])
        if version not in known:
            print(f"skipped {event_type} v{version} id={event_id}: unknown version", flush=True)
            await message.ack()
            return
        data = json.dumps(event.get("data", {}), sort_keys=True, ensure_ascii=False)
        print(
            f"{event_type} v{version} id={event_id} subject={event.get('subject', '')} data={data}",
            flush=True,
        )
        # Handle first, then remember the id and ack: a crash in between means the
        # event comes again (at least once), never that it is lost.
        self.seen[event_id] = None
        self.handled += 1
        if len(self.seen) > SEEN_IDS_KEPT:
            self.seen.popitem(last=False)
        await message.ack()
        if self.max_events and self.handled >= self.max_events:
            self.done.set()


async def run(args: argparse.Namespace) -> None:
    patterns = args.patterns or ["#"]
    connection = await aio_pika.connect_robust(args.url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=args.prefetch)
        if args.passive_exchange:
            exchange = await channel.get_exchange(args.exchange, ensure=True)
        else:
            # Same properties as Casemesh declares it: durable topic exchange.
            exchange = await channel.declare_exchange(
                args.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
        queue = await channel.declare_queue(args.queue, durable=True)
        for pattern in patterns:
            await queue.bind(exchange, routing_key=pattern)
        printer = Printer(args.max_events)
        tag = await queue.consume(printer)  # manual acks (no_ack=False)
        print(
            f"subscribed queue={args.queue} exchange={args.exchange} patterns={','.join(patterns)}",
            flush=True,
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, printer.done.set)
        await printer.done.wait()
        await queue.cancel(tag)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        print(f"exchange {args.exchange!r} not found: {exc}", file=sys.stderr)
        return 2
    except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
        print(f"cannot reach RabbitMQ at the given --url: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
