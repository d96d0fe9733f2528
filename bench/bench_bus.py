"""``bus``: publish -> consume over RabbitMQ, the kernel's ``RabbitMQBus`` against raw aio-pika.

Both sides do the same work on one robust connection, a publisher channel
with confirms and a consumer channel with the same prefetch: a durable topic
exchange, a durable queue bound to it, persistent JSON messages of the same
size, manual ack after the message is handled. The kernel side publishes
``Envelope``s with ``RabbitMQBus.publish`` (returns once confirmed) and
consumes with ``RabbitMQBus.subscribe`` (no deduplicator: the bus alone);
the raw side calls aio-pika directly and parses the body with ``json``.

Every message carries its publish time (``perf_counter_ns`` just before
publishing) in its data; latency = consume time - that stamp. Each side is
measured publishing sequentially (one publish in flight) and concurrently
(``--batch`` publishes in flight via ``asyncio.gather``, batch after batch),
after a warm-up, ``--rounds`` times, kernel and raw alternating which goes
first; a side's rounds in one mode are pooled. Throughput = messages consumed
/ time from the first publish to the last consume. Publisher and consumer
share the harness process, whose CPU time per message is reported too; it and
the broker share the machine. Everything declared is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench import format_table
from bench.load import percentile
from casemesh.bus.rabbitmq import RabbitMQBus
from casemesh.events import Envelope
from casemesh.settings import Settings

DESCRIPTION = "publish -> consume over RabbitMQ: kernel RabbitMQBus vs raw aio-pika"
DEFAULT_AMQP_URL = Settings.model_fields["amqp_url"].default
DEFAULT_PREFETCH = Settings.model_fields["bus_prefetch"].default
EVENT_TYPE = "bench.message"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages", type=int, default=10000, help="per side, mode and round (default 10000)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times each side and mode is measured, interleaved; pooled (default 3)",
    )
    parser.add_argument(
        "--payload", type=int, default=256, help="bytes of padding in each message's data"
    )
    parser.add_argument(
        "--batch", type=int, default=32, help="publishes in flight when concurrent (default 32)"
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=DEFAULT_PREFETCH,
        help=f"consumer prefetch, both sides (default {DEFAULT_PREFETCH}, as Settings)",
    )
    parser.add_argument("--warmup", type=int, default=500, help="uncounted messages per side first")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for a run's last message"
    )
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL, help=f"default {DEFAULT_AMQP_URL}")


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))


@dataclass
class Collector:
    """Latencies of one run's consumed messages."""

    expected: int
    latencies_ms: list[float] = field(default_factory=list)
    last_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, sent_ns: int) -> None:
        now = time.perf_counter_ns()
        self.latencies_ms.append((now - sent_ns) / 1e6)
        self.last_ns = now
        if len(self.latencies_ms) >= self.expected:
            self.done.set()


class Side:
    """One way of publishing and consuming; ``collector`` receives what is consumed."""

    name: str
    body_bytes: int = 0
    collector: Collector | None = None
    publish: Callable[[], Awaitable[None]]

    def consumed(self, sent_ns: int) -> None:
        if self.collector is not None:
            self.collector.record(sent_ns)


class KernelSide(Side):
    name = "kernel"

    def __init__(self, url: str, exchange: str, queue: str, pad: str, prefetch: int) -> None:
        self.bus = RabbitMQBus(url, exchange=exchange)
        self.queue = queue
        self.pad = pad
        self.prefetch = prefetch

    async def open(self) -> None:
        await self.bus.connect()

        async def handler(envelope: Envelope) -> None:
            self.consumed(envelope.data["sent_ns"])

        await self.bus.subscribe(self.queue, [EVENT_TYPE], handler, prefetch=self.prefetch)
        self.body_bytes = len(self._envelope().to_json_bytes())

    def _envelope(self) -> Envelope:
        return Envelope(
            type=EVENT_TYPE,
            version=1,
            source="bench",
            workspace="bench",
            subject="bench",
            data={"sent_ns": time.perf_counter_ns(), "pad": self.pad},
        )

    async def publish(self) -> None:
        await self.bus.publish(self._envelope())

    async def close(self) -> None:
        await self.bus.close()


class RawSide(Side):
    name = "raw"

    def __init__(self, url: str, exchange: str, queue: str, pad: str, prefetch: int) -> None:
        self.url = url
        self.exchange_name = exchange
        self.queue_name = queue
        self.pad = pad
        self.prefetch = prefetch
        self.server_version = "unknown"

    async def open(self) -> None:
        self.connection = await aio_pika.connect_robust(self.url)
        transport = self.connection.transport
        assert transport is not None  # just connected
        properties = transport.connection.server_properties
        self.server_version = str(properties.get("version", "unknown"))
        publisher = await self.connection.channel(publisher_confirms=True)
        self.exchange = await publisher.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        consumer = await self.connection.channel()
        await consumer.set_qos(prefetch_count=self.prefetch)
        queue = await consumer.declare_queue(self.queue_name, durable=True)
        await queue.bind(self.exchange_name, routing_key=EVENT_TYPE)

        async def on_message(message: AbstractIncomingMessage) -> None:
            self.consumed(json.loads(message.body)["data"]["sent_ns"])
            await message.ack()

        await queue.consume(on_message)  # manual ack
        self.body_bytes = len(self._body())

    def _body(self) -> bytes:
        # The same fields as an Envelope, so the same size on the wire.
        return json.dumps(
            {
                "id": uuid.uuid4().hex,
                "type": EVENT_TYPE,
                "version": 1,
                "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "source": "bench",
                "workspace": "bench",
                "subject": "bench",
                "correlation_id": "",
                "data": {"sent_ns": time.perf_counter_ns(), "pad": self.pad},
            },
            separators=(",", ":"),
        ).encode()

    async def publish(self) -> None:
        message = aio_pika.Message(
            self._body(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
        )
        await self.exchange.publish(message, routing_key=EVENT_TYPE)  # waits for the confirm

    async def close(self) -> None:
        await self.connection.close()


@dataclass
class Run:
    """One measured run of one side in one publishing mode."""

    side: str
    batch: int
    messages: int
    body_bytes: int
    latencies_ms: list[float]
    publish_s: float
    elapsed_s: float  # first publish -> last consume
    cpu_s: float  # of the whole harness process: publisher and consumer


def _mode(batch: int) -> str:
    return "sequential" if batch == 1 else f"concurrent x{batch}"


async def _measure(side: Side, count: int, batch: int, timeout: float) -> Run:
    collector = Collector(count)
    side.collector = collector
    cpu = time.process_time()
    start = time.perf_counter_ns()
    if batch == 1:
        for _ in range(count):
            await side.publish()
    else:
        for offset in range(0, count, batch):
            await asyncio.gather(*(side.publish() for _ in range(min(batch, count - offset))))
    published = time.perf_counter_ns()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collector.done.wait(), timeout)
    cpu = time.process_time() - cpu
    side.collector = None
    end = collector.last_ns or time.perf_counter_ns()
    return Run(
        side.name,
        batch,
        count,
        side.body_bytes,
        collector.latencies_ms,
        (published - start) / 1e9,
        (end - start) / 1e9,
        cpu,
    )


def _pooled(runs: list[Run]) -> dict:
    """One side's runs in one mode, pooled: totals, and percentiles over every message."""
    first = runs[0]
    messages = sum(r.messages for r in runs)
    received = sum(len(r.latencies_ms) for r in runs)
    elapsed = sum(r.elapsed_s for r in runs)
    publish = sum(r.publish_s for r in runs)
    ordered = sorted(latency for r in runs for latency in r.latencies_ms)
    return {
        "side": first.side,
        "mode": _mode(first.batch),
        "in_flight": first.batch,
        "rounds": len(runs),
        "messages": messages,
        "received": received,
        "missing": messages - received,
        "body_bytes": first.body_bytes,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(received / elapsed, 1) if elapsed > 0 else 0.0,
        "round_msgs_per_s": [round(len(r.latencies_ms) / r.elapsed_s, 1) for r in runs],
        "publish_rate": round(messages / publish, 1) if publish > 0 else 0.0,
        "p50_ms": _round(percentile(ordered, 50)),
        "p99_ms": _round(percentile(ordered, 99)),
        "harness_cpu_percent": round(sum(r.cpu_s for r in runs) / elapsed * 100, 1),
        "harness_cpu_us_per_msg": round(sum(r.cpu_s for r in runs) / max(received, 1) * 1e6, 1),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _delete_topology(url: str, exchanges: list[str], queues: list[str]) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)
        for name in exchanges:
            await channel.exchange_delete(name)


async def _run(args: argparse.Namespace) -> dict:
    tag = uuid.uuid4().hex[:12]
    pad = "x" * args.payload
    kernel = KernelSide(
        args.amqp_url, f"bench.bus.{tag}", f"bench.bus.{tag}.kernel", pad, args.prefetch
    )
    raw = RawSide(args.amqp_url, f"bench.bus.{tag}.raw", f"bench.bus.{tag}.raw", pad, args.prefetch)
    runs: list[Run] = []
    try:
        await kernel.open()
        await raw.open()
        print(f"RabbitMQ {raw.server_version}; exchanges and queues bench.bus.{tag}*", flush=True)
        for side in (kernel, raw):
            if args.warmup:
                await _measure(side, args.warmup, args.batch, args.timeout)
        for round_ in range(args.rounds):
            # Kernel first in even rounds, raw first in odd ones.
            sides = (kernel, raw) if round_ % 2 == 0 else (raw, kernel)
            for batch in (1, args.batch):
                for side in sides:
                    print(
                        f"round {round_ + 1}/{args.rounds}, {side.name}, {_mode(batch)}: "
                        f"{args.messages} messages",
                        flush=True,
                    )
                    runs.append(await _measure(side, args.messages, batch, args.timeout))
    finally:
        with contextlib.suppress(AttributeError):  # whatever was opened
            await raw.close()
        await kernel.close()
        await _delete_topology(
            args.amqp_url,
            [kernel.bus.exchange_name, raw.exchange_name],
            [*sorted(kernel.bus.declared_queues), raw.queue_name],
        )
    pooled = [
        _pooled([r for r in runs if r.side == side.name and r.batch == batch])
        for batch in (1, args.batch)
        for side in (kernel, raw)
    ]
    report = {
        "settings": {
            "messages": args.messages,
            "rounds": args.rounds,
            "payload_pad_bytes": args.payload,
            "batch": args.batch,
            "prefetch": args.prefetch,
            "warmup": args.warmup,
            "rabbitmq": raw.server_version,
        },
        "runs": pooled,
        "ratios": _ratios(pooled),
    }
    _print(report)
    return report


def _ratios(runs: list[dict]) -> list[dict]:
    """Kernel ÷ raw for each publishing mode."""
    ratios = []
    for mode in dict.fromkeys(r["mode"] for r in runs):
        k = next(r for r in runs if r["mode"] == mode and r["side"] == "kernel")
        w = next(r for r in runs if r["mode"] == mode and r["side"] == "raw")
        ratios.append(
            {
                "mode": mode,
                "msgs_per_s": _ratio(k["msgs_per_s"], w["msgs_per_s"]),
                "p50_ms": _ratio(k["p50_ms"], w["p50_ms"]),
                "p99_ms": _ratio(k["p99_ms"], w["p99_ms"]),
                "cpu_per_msg": _ratio(k["harness_cpu_us_per_msg"], w["harness_cpu_us_per_msg"]),
            }
        )
    return ratios


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _print(report: dict) -> None:
    s = report["settings"]
    print()
    print(
        f"publish -> consume, {s['messages']} persistent messages per side, mode and round, "
        f"{s['rounds']} rounds pooled, confirms on, prefetch {s['prefetch']}, "
        f"RabbitMQ {s['rabbitmq']}"
    )
    print(
        "(publisher and consumer share the harness process; it and the broker share this "
        "machine's cores. CPU is the harness's, % of one core)"
    )
    print()
    headers = ["side", "publishing", "body B", "received", "msgs/s", "rounds min..max"]
    headers += ["p50 ms", "p99 ms", "CPU %", "CPU us/msg"]
    rows = [
        [
            r["side"],
            r["mode"],
            r["body_bytes"],
            f"{r['received']}/{r['messages']}",
            f"{r['msgs_per_s']:.0f}",
            f"{min(r['round_msgs_per_s']):.0f}..{max(r['round_msgs_per_s']):.0f}",
            r["p50_ms"],
            r["p99_ms"],
            f"{r['harness_cpu_percent']:.0f}",
            f"{r['harness_cpu_us_per_msg']:.0f}",
        ]
        for r in report["runs"]
    ]
    print(format_table(headers, rows))
    print()
    print("kernel ÷ raw")
    print(
        format_table(
            ["publishing", "msgs/s", "p50", "p99", "CPU/msg"],
            [
                [r["mode"], r["msgs_per_s"], r["p50_ms"], r["p99_ms"], r["cpu_per_msg"]]
                for r in report["ratios"]
            ],
        )
    )
