"""The "raw parts" side of ``bench cases``: the platform's architecture from raw components.

Four OS processes (``python -m bench.cases_parts_server ROLE``), like the
platform's: a bare aiohttp gateway proxying to a bare aiohttp "cases"
process (one ``sqlite3`` database, the case's documents and its events
written in one transaction per call, a transactional outbox published with
confirms), and two aio-pika consumers, "notes" and "notifications", each
storing the events it is bound to with a de-duplication record. Same
documents (``CaseLife``) and events (bench/cases_parts_events.py) as the
platform, with none of its code: their throughput and CPU per case are the
floor this architecture sets on this machine.

``launched_parts`` starts them with a private exchange
(``bench.<hex>.parts.events``) and queues (``bench.<hex>.parts.notes``,
``...notifications``), waits until the gateway answers and both queues have
their consumer, and gives a ``bench.platform.Platform`` laid out like the
launched platform (the cases database at ``db/cases.sqlite3`` with its
``_outbox`` table, the queues named prefix + service), so ``bench cases``
measures both the same way. At the end it stops the processes (gateway
first), deletes the exchange and queues and removes the data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
from aio_pika.exceptions import ChannelClosed

from bench.cases_parts_documents import RoutingStates
from bench.platform import Platform, free_port, spawn, wait_until_ok
from casemesh.settings import Settings

CONSUMERS = ("notes", "notifications")
PREFETCH = Settings.model_fields["bus_prefetch"].default
READY_TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[1]


def _server(role: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "bench.cases_parts_server", role, *options]


@contextlib.asynccontextmanager
async def launched_parts(
    args: argparse.Namespace, states: RoutingStates
) -> AsyncIterator[Platform]:
    data_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-parts-"))
    (data_dir / "db").mkdir()
    log_dir = data_dir / "logs"
    log_dir.mkdir()
    states_path = data_dir / "states.json"
    states_path.write_text(json.dumps(states.to_json()))
    tag = uuid.uuid4().hex[:12]
    exchange, queue_prefix = f"bench.{tag}.parts.events", f"bench.{tag}.parts."
    amqp = ("--amqp-url", args.amqp_url, "--exchange", exchange)
    ports = {"gateway": free_port(), "cases": free_port()}
    cases_url = f"http://127.0.0.1:{ports['cases']}"
    platform = Platform(
        f"http://127.0.0.1:{ports['gateway']}",
        cases_url,
        data_dir=data_dir,
        exchange=exchange,
        amqp_url=args.amqp_url,
        queue_prefix=queue_prefix,
    )
    env = dict(os.environ)
    failed = False
    try:
        db = str(data_dir / "db" / "cases.sqlite3")
        options = ("--port", str(ports["cases"]), "--db", db, "--states", str(states_path))
        platform.processes.append(
            spawn("cases", _server("cases", *options, *amqp), env, log_dir, REPO)
        )
        for role in CONSUMERS:
            options = ("--db", str(data_dir / "db" / f"{role}.sqlite3"))
            options += ("--queue", f"{queue_prefix}{role}", "--prefetch", str(PREFETCH))
            platform.processes.append(
                spawn(role, _server(role, *options, *amqp), env, log_dir, REPO)
            )
        options = ("--port", str(ports["gateway"]), "--cases-url", cases_url)
        gateway = spawn("gateway", _server("gateway", *options), env, log_dir, REPO)
        platform.processes.insert(0, gateway)
        started = time.monotonic()
        await wait_until_ok(f"{platform.gateway_url}/healthz", platform.processes, READY_TIMEOUT)
        await _wait_consuming(args.amqp_url, [f"{queue_prefix}{r}" for r in CONSUMERS])
        print(
            f"raw parts: 4 processes ready in {time.monotonic() - started:.1f}s "
            f"(exchange {exchange}, data {data_dir})",
            flush=True,
        )
        yield platform
    except BaseException:
        failed = True
        raise
    finally:
        for process in platform.processes:  # gateway first: no new work reaches the others
            code = process.stop()
            if code != 0:
                failed = True
                print(f"  raw parts {process.name} exited with code {code}:\n{process.log_tail()}")
        try:
            await _delete_topology(
                args.amqp_url, exchange, [f"{queue_prefix}{r}" for r in CONSUMERS]
            )
        except Exception as exc:  # report, and still clean up the rest
            print(f"  could not clean up the broker ({exc!r}): exchange {exchange} may be left")
        if failed or args.keep_data:
            print(f"  raw parts' data and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _wait_consuming(amqp_url: str, queues: list[str], timeout: float = READY_TIMEOUT):
    """Until every queue exists with a consumer: events published before would be lost."""
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            while True:
                try:
                    queue = await channel.declare_queue(name, passive=True)
                    if queue.declaration_result.consumer_count:
                        break
                except ChannelClosed:  # not declared yet
                    channel = await connection.channel()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"raw parts: nobody consumes {name} after {timeout:.0f}s")
                await asyncio.sleep(0.1)


async def _delete_topology(amqp_url: str, exchange: str, queues: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
        for name in queues:
            await channel.queue_delete(name)


def stored(data_dir: Path) -> dict:
    """What the raw parts hold: cases by status, events each consumer stored, outbox left."""

    def query(name: str, sql: str) -> list[tuple]:
        path = data_dir / "db" / f"{name}.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute(sql).fetchall()

    statuses = query(
        "cases", "SELECT json_extract(doc, '$.app_status'), count(*) FROM cases GROUP BY 1"
    )
    return {
        "cases": dict(statuses),
        "outbox_left": query("cases", "SELECT count(*) FROM _outbox")[0][0],
        **{
            f"{role}_events": query(role, "SELECT count(*) FROM events_seen")[0][0]
            for role in CONSUMERS
        },
    }
