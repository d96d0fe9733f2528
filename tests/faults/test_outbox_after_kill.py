"""A service killed with SIGKILL after a database write, before its event left: nothing is lost.

The cases service runs as a real process (``python -m casemesh serve cases``,
SQLite store file, RabbitMQ bus). A queue of the test's own, bound to the
service's exchange, sees what is published.

- Deterministic: with ``CASEMESH_OUTBOX_PAUSED=true`` the relay publishes
  nothing, so a new case's events are certainly committed and certainly not
  sent when the process is killed. Restarted without the knob, the service
  publishes exactly those events.
- Under load, without the knob: writers create pings as fast as they can and
  the process is killed mid-stream. Every ping the service acknowledged has
  its event published after the restart, and every published event belongs
  to a ping that exists (an event never leaves without its write).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiohttp
import pytest

from casemesh.events import Envelope
from casemesh.identity import identity_headers
from tests.faults.platform import Launch, launched
from tests.integration.cases.conftest import EXAMPLES, REQUEST, SEQUENTIAL, admin
from tests.integration.notifications.conftest import until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

WRITERS = 4


class Observer:
    """A queue bound to the launch's exchange; remembers every event it got."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue
        self.events: list[Envelope] = []

    async def _on(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            self.events.append(Envelope.from_json_bytes(message.body))

    def ids(self) -> Counter[str]:
        return Counter(e.id for e in self.events)


@contextlib.asynccontextmanager
async def observing(launch: Launch, pattern: str) -> AsyncIterator[Observer]:
    # Robust and durable: a broker restart by another test run must not blind it.
    connection = await aio_pika.connect_robust(launch.amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            launch.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"{launch.queue_prefix}observer", durable=True)
        await queue.bind(exchange, routing_key=pattern)
        observer = Observer(queue)
        await queue.consume(observer._on)
        try:
            yield observer
        finally:
            await queue.delete(if_unused=False, if_empty=False)


def outbox(launch: Launch, service: str) -> list[Envelope]:
    """The events waiting in a service's outbox, read from its SQLite file."""
    path = Path(launch.env["CASEMESH_DATA_DIR"]) / "db" / f"{service}.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT envelope FROM _outbox ORDER BY seq").fetchall()
    return [Envelope.model_validate(json.loads(row[0])) for row in rows]


def admin_headers(launch: Launch) -> dict[str, str]:
    return identity_headers(admin(), launch.env["CASEMESH_INTERNAL_SECRET"])


def cases_only(tmp_path: Path, amqp_url: str, **env: str):
    """The cases service alone, with the example processes loaded."""
    own = {"cases": {"CASEMESH_DEFINITIONS_DIR": str(EXAMPLES), **env}}
    return launched(tmp_path, amqp_url, names=["cases"], own_env=own)


async def test_events_committed_but_unsent_at_a_sigkill_are_published_after_restart(
    tmp_path, amqp_url, http
):
    async with (
        cases_only(tmp_path, amqp_url, CASEMESH_OUTBOX_PAUSED="true") as launch,
        observing(launch, "#") as observer,
    ):
        url = f"{launch.url('cases')}/api/1.0/workflow/cases"
        body = {"pro_uid": SEQUENTIAL, "tas_uid": REQUEST}
        async with http.post(url, json=body, headers=admin_headers(launch)) as r:
            assert r.status == 200, await r.text()
            app_uid = (await r.json())["app_uid"]
        waiting = outbox(launch, "cases")
        mine = [e for e in waiting if e.subject == app_uid]
        assert {e.type for e in mine} >= {"case.created", "case.task.assigned"}
        await asyncio.sleep(1.0)
        assert observer.events == []  # committed, not published: the moment to die

        launch.kill("cases")
        assert launch.processes["cases"].popen.returncode == -9
        restarted = time.monotonic()
        launch.start("cases", CASEMESH_OUTBOX_PAUSED="false")
        await until(lambda: set(observer.ids()) >= {e.id for e in waiting}, 30, "the events")
        published_after = time.monotonic() - restarted
        await asyncio.sleep(1.0)  # a second copy would show up now
        got = observer.ids()
        assert all(got[e.id] == 1 for e in waiting), got
        assert outbox(launch, "cases") == []
        async with http.get(f"{url}/{app_uid}", headers=admin_headers(launch)) as r:
            assert r.status == 200  # the write itself survived the kill
    print(
        f"\nSIGKILL between commit and publish: {len(waiting)} events in the outbox "
        f"({len(mine)} of the new case: {sorted(e.type for e in mine)}), all published once "
        f"{published_after:.1f}s after the restart began (process start included)"
    )


async def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path, amqp_url, http):
    async with cases_only(tmp_path, amqp_url) as launch:
        await kill_under_load(launch, http)


async def kill_under_load(launch: Launch, http: aiohttp.ClientSession) -> None:
    headers = admin_headers(launch)
    url = f"{launch.url('cases')}/casemesh/v1/pings"
    acked: list[str] = []

    async def writer() -> None:
        while True:
            try:
                async with http.post(url, json={"message": "load"}, headers=headers) as r:
                    assert r.status == 201, await r.text()
                    acked.append((await r.json())["id"])
            except aiohttp.ClientError:
                return  # the process is gone

    async with observing(launch, "system.ping") as observer:
        writers = [asyncio.create_task(writer()) for _ in range(WRITERS)]
        await until(lambda: len(acked) >= 150, 30, "writes under way")
        launch.kill("cases")
        results = await asyncio.gather(*writers, return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)], results
        pending = outbox(launch, "cases")
        seen_at_kill = len(observer.events)
        restarted = time.monotonic()
        launch.start("cases")
        await launch.wait_ready("cases")

        def published() -> set[str]:
            return {e.data["ping_id"] for e in observer.events}

        await until(lambda: published() >= set(acked), 30, "every acknowledged ping's event")
        recovered = time.monotonic() - restarted
        await asyncio.sleep(1.0)
        copies = Counter(e.data["ping_id"] for e in observer.events)
    for ping_id in copies:  # no event without its write
        async with http.get(f"{url}/{ping_id}", headers=headers) as r:
            assert r.status == 200, ping_id
    duplicated = sum(n - 1 for n in copies.values())
    # Only an event confirmed but not yet deleted from the outbox at the kill goes twice.
    left = {e.data["ping_id"] for e in pending}
    assert {ping_id for ping_id, n in copies.items() if n > 1} <= left
    print(
        f"\nSIGKILL under load: {len(acked)} pings acknowledged, {seen_at_kill} events "
        f"seen on the queue at the kill, {len(pending)} left in the outbox, all acknowledged ones "
        f"published {recovered:.1f}s after the restart began; published {len(copies)} "
        f"distinct, lost 0, duplicated {duplicated}"
    )
