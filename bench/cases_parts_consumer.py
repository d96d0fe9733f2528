"""The raw-parts consumers: "notes" and "notifications", each aio-pika and one ``sqlite3``.

Each has a durable queue bound to the events it takes ("notes": every
``case.#``; "notifications": the types of services/notifications/planning.py),
a prefetch like the platform's ``bus_prefetch`` and manual acks. Per event,
one transaction inserts the event's de-duplication record (keyed by its id)
and one row (the event's case, type and body); the ack follows the commit.
A duplicate (its id already recorded) is acked without writing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.cases_parts_sqlite import open_database

BINDINGS = {
    "notes": ("case.#",),
    "notifications": (
        "case.task.assigned",
        "case.task.unassigned",
        "case.task.overdue",
        "case.cancelled",
        "case.completed",
    ),
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS _dedup (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS events_seen (
    seq INTEGER PRIMARY KEY, app_uid TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL
);
"""


def record(db: sqlite3.Connection, body: bytes) -> bool:
    """Store one event with its de-duplication record; False if it was already seen."""
    event = json.loads(body)
    db.execute("BEGIN IMMEDIATE")
    try:
        seen = db.execute("INSERT OR IGNORE INTO _dedup VALUES (?)", (event["id"],))
        if seen.rowcount == 0:
            db.execute("ROLLBACK")
            return False
        db.execute(
            "INSERT INTO events_seen (app_uid, type, body) VALUES (?, ?, ?)",
            (event["subject"], event["type"], json.dumps(event["data"])),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return True


async def consume(
    role: str, db_path: Path, amqp_url: str, exchange: str, queue: str, prefetch: int
) -> None:
    """Take ``role``'s events from ``queue`` until SIGTERM."""
    db = open_database(db_path, SCHEMA)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def take(message: AbstractIncomingMessage) -> None:
        record(db, message.body)
        await message.ack()

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        events = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        declared = await channel.declare_queue(queue, durable=True)
        for pattern in BINDINGS[role]:
            await declared.bind(events, pattern)
        tag = await declared.consume(take, no_ack=False)
        await stop.wait()
        await declared.cancel(tag)
    db.close()
