"""The raw-parts "cases" process: aiohttp, one ``sqlite3`` database, an outbox, aio-pika.

The least a cases service of this architecture does per call, with nothing
of the platform's code: ``POST /api/1.0/{ws}/cases`` inserts the case
document and its first delegation (``CaseLife``'s documents, JSON text) and
their two events in the outbox, in one transaction; ``PUT
/api/1.0/{ws}/cases/{app_uid}/route-case`` reads the case and its open
delegation, then in one transaction updates the case (optimistic version
check), closes the delegation, inserts the next one and writes two events.
Writes run on the event loop (no threads); WAL, ``synchronous=NORMAL``.

After each commit the relay takes the outbox's rows in order, publishes
them all at once to the durable topic exchange (persistent, publisher
confirms, routing key = event type; frames written straight to aio-pika's
underlying aiormq channel, as the platform's bus does) and deletes them
once confirmed. A batch that fails is published again (consumers drop
duplicates by event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
from aiohttp import web
from aiormq import spec

from bench import cases_parts_events as events
from bench.cases_parts_documents import CaseLife, RoutingStates, stamp
from bench.cases_parts_sqlite import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delegations (
    id TEXT PRIMARY KEY, app_uid TEXT NOT NULL, usr_uid TEXT NOT NULL, status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delegations_inbox ON delegations (usr_uid, status);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _outbox (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, body BLOB NOT NULL
);
"""
RELAY_BATCH = 500


class CaseRefused(Exception):
    """The call cannot be done (HTTP ``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Cases:
    """The cases' documents and outbox, written in one transaction per call."""

    def __init__(self, db: sqlite3.Connection, states: RoutingStates) -> None:
        self.db = db
        self.states = states

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def start(self, workspace: str, user: str, variables: dict) -> dict:
        life = CaseLife(self.states)
        correlation_id = uuid.uuid4().hex
        with self._transaction() as db:
            (number,) = db.execute(
                "INSERT INTO sequences VALUES ('app_number', 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
            ).fetchone()
            life.start(
                workspace=workspace,
                number=number,
                title=f"#{number}",
                user=user,
                when=stamp(time.time()),
                variables=variables,
            )
            case, row = life.case, life.rows[0]
            db.execute("INSERT INTO cases VALUES (?, 1, ?)", (case["id"], json.dumps(case)))
            self._insert_delegation(row)
            self._outbox(events.started(case, row, correlation_id))
        return {"app_uid": case["app_uid"], "app_number": number}

    def route(self, app_uid: str, user: str) -> None:
        correlation_id = uuid.uuid4().hex
        with self._transaction() as db:
            found = db.execute("SELECT version, doc FROM cases WHERE id = ?", (app_uid,)).fetchone()
            if found is None:
                raise CaseRefused(404, f"case {app_uid} not found")
            version, case = found[0], json.loads(found[1])
            if case["app_status"] != "TO_DO":
                raise CaseRefused(400, f"case {app_uid} is {case['app_status']}")
            open_id = case["delegation_ids"][str(case["last_index"])]
            (doc,) = db.execute("SELECT doc FROM delegations WHERE id = ?", (open_id,)).fetchone()
            life = CaseLife(self.states, case=case, rows=[json.loads(doc)])
            life.routed = case["last_index"] - 1
            life.route(user, stamp(time.time()))
            changed = db.execute(
                "UPDATE cases SET version = version + 1, doc = ? WHERE id = ? AND version = ?",
                (json.dumps(life.case), app_uid, version),
            )
            if changed.rowcount != 1:
                raise CaseRefused(409, f"case {app_uid} changed meanwhile")
            closed = life.rows[0]
            db.execute(
                "UPDATE delegations SET status = ?, doc = ? WHERE id = ?",
                (closed["status"], json.dumps(closed), closed["id"]),
            )
            opened = life.rows[1] if len(life.rows) > 1 else None
            if opened is not None:
                self._insert_delegation(opened)
            self._outbox(events.routed(life.case, closed, opened, correlation_id))

    def _insert_delegation(self, row: dict) -> None:
        self.db.execute(
            "INSERT INTO delegations VALUES (?, ?, ?, ?, ?)",
            (row["id"], row["app_uid"], row["usr_uid"], row["status"], json.dumps(row)),
        )

    def _outbox(self, batch: list[events.Event]) -> None:
        self.db.executemany(
            "INSERT INTO _outbox (id, type, body) VALUES (?, ?, ?)",
            [(e.id, e.type, e.body) for e in batch],
        )


class Relay:
    """Publishes the outbox in order once its rows are committed, then deletes them."""

    def __init__(self, db: sqlite3.Connection, exchange: str) -> None:
        self.db = db
        self.exchange = exchange
        self.wake = asyncio.Event()
        self.wake.set()  # first, what a previous run left in the outbox

    async def run(self, channel: aio_pika.abc.AbstractChannel) -> None:
        underlay = await channel.get_underlay_channel()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while rows := self.db.execute(
                "SELECT seq, id, type, body FROM _outbox ORDER BY seq LIMIT ?", (RELAY_BATCH,)
            ).fetchall():
                # Tasks start in order and each writes its frames before waiting: order kept.
                sends = [
                    asyncio.ensure_future(self._send(underlay, id_, type_, body))
                    for _, id_, type_, body in rows
                ]
                failures = [r for r in await asyncio.gather(*sends, return_exceptions=True) if r]
                if failures:
                    print(f"relay: {len(failures)} not confirmed: {failures[0]!r}", file=sys.stderr)
                    await asyncio.sleep(1)
                    continue
                self.db.execute("DELETE FROM _outbox WHERE seq <= ?", (rows[-1][0],))

    async def _send(self, underlay, event_id: str, event_type: str, body: bytes) -> None:
        properties = spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=int(aio_pika.DeliveryMode.PERSISTENT),
            message_id=event_id,
            message_type=event_type,
        )
        confirmation = await underlay.basic_publish(
            body,
            exchange=self.exchange,
            routing_key=event_type,
            properties=properties,
            mandatory=True,
            wait=False,
        )
        if not isinstance(confirmation, spec.Basic.Ack):
            raise RuntimeError(f"{event_id}: {confirmation!r}")


def _variables(fields: dict) -> dict:
    merged: dict = {}
    for item in fields.get("variables") or []:
        merged.update(item)
    return merged


def build_app(
    db_path: Path, states: RoutingStates, amqp_url: str, exchange: str
) -> web.Application:
    db = open_database(db_path, SCHEMA)
    cases = Cases(db, states)
    relay = Relay(db, exchange)
    start_task = states.tasks[0][0]
    app = web.Application()

    async def new_case(request: web.Request) -> web.Response:
        fields = await request.json()
        if fields.get("pro_uid") != states.definition["uid"] or fields.get("tas_uid") != start_task:
            return web.json_response({"error": "unknown process or task"}, status=400)
        created = cases.start(request.match_info["ws"], events.ADMIN["usr_uid"], _variables(fields))
        relay.wake.set()
        return web.json_response(created)

    async def route_case(request: web.Request) -> web.Response:
        try:
            cases.route(request.match_info["app_uid"], events.ADMIN["usr_uid"])
        except CaseRefused as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        relay.wake.set()
        return web.Response(status=200)  # as ProcessMaker's actions: no body

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def connect(app: web.Application) -> AsyncIterator[None]:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        task = asyncio.create_task(relay.run(channel))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()
        db.close()

    app.cleanup_ctx.append(connect)
    app.router.add_post("/api/1.0/{ws}/cases", new_case)
    app.router.add_put("/api/1.0/{ws}/cases/{app_uid}/route-case", route_case)
    app.router.add_get("/healthz", healthz)
    return app
