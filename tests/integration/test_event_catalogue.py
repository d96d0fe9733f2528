"""The event catalogue from outside: the example subscriber on real RabbitMQ, and the gateway's URL.

The subscriber (examples/subscriber.py) runs as its own process with only
aio-pika, as a service outside Casemesh would; the events reach it through
Casemesh's own RabbitMQ adapter.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from pathlib import Path

import aio_pika
import yaml

from casemesh.events import new_envelope
from casemesh.events.cases import CaseCreated, Person
from casemesh.events.catalogue import registered
from casemesh.events.documents import DocumentUploaded
from casemesh.events.notes import NoteCreated
from casemesh.settings import SERVICE_NAMES, Settings
from gateway.app import create_app
from gateway.auth import Credentials
from tests.fixtures.rabbitmq import rabbitmq_test_bus
from tests.fixtures.web import serving

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber.py"
EVENT_LINE = re.compile(r"^(\S+) v(\d+) id=(\S+) subject=(\S*) data=(.*)$")
ALICE = Person(usr_uid="u" * 32, username="alice", email="alice@example.com")
APP_UID = "a" * 32


def note_created() -> NoteCreated:
    return NoteCreated(
        entry_id="n1", app_uid=APP_UID, app_number=7, author=ALICE, text="Delivery on Friday"
    )


def case_created() -> CaseCreated:
    return CaseCreated(
        app_uid=APP_UID,
        app_number=7,
        app_title="#7",
        app_status="TO_DO",
        pro_uid="p" * 32,
        pro_title="Purchase",
        created_by=ALICE,
    )


def document_uploaded() -> DocumentUploaded:
    return DocumentUploaded(app_doc_uid="d1", app_uid=APP_UID, app_number=7, kind="INPUT", by=ALICE)


async def queue_depth_then_delete(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        depth = declared.declaration_result.message_count
        await channel.queue_delete(queue)
    return depth or 0


async def test_example_subscriber_receives_events_published_by_the_bus(amqp_url):
    queue = f"test.subscriber.{uuid.uuid4().hex[:12]}"
    async with rabbitmq_test_bus(amqp_url) as bus:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SUBSCRIBER),
            *("--url", amqp_url, "--exchange", bus.exchange_name, "--queue", queue),
            *("--pattern", "note.*", "--pattern", "case.#", "--max-events", "2"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert ready.startswith(b"subscribed queue=" + queue.encode()), ready
            ignored = new_envelope(document_uploaded(), source="documents", workspace="workflow")
            note = new_envelope(note_created(), source="notes", workspace="w1", subject=APP_UID)
            case = new_envelope(case_created(), source="cases", workspace="w1", subject=APP_UID)
            for envelope in (ignored, note, note, case):  # the note twice: at least once
                await bus.publish(envelope)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            depth = await queue_depth_then_delete(amqp_url, queue)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()  # after the "subscribed" line read above
    printed = [EVENT_LINE.match(line) for line in lines]
    events = [m.groups() for m in printed if m]
    assert [(t, v, i, s) for t, v, i, s, _ in events] == [
        ("note.created", "1", note.id, APP_UID),
        ("case.created", "1", case.id, APP_UID),
    ]
    assert json.loads(events[0][4]) == note.data
    assert json.loads(events[1][4]) == case.data
    assert f"duplicate note.created id={note.id} (already handled)" in lines
    assert ignored.id not in out.decode()  # not bound: document.* never reaches the queue
    assert depth == 0  # everything delivered was acked


async def refuse_credentials(credentials: Credentials, workspace: str):
    raise AssertionError("the event catalogue must not ask for credentials")


async def test_gateway_serves_the_catalogue_without_credentials(http):
    settings = Settings(
        amqp_url="amqp://svc:s3cret@broker.example:5673/prod",
        amqp_exchange="acme.events",
        internal_secret="catalogue-test-secret",
        **{f"{name}_url": "http://127.0.0.1:9" for name in SERVICE_NAMES},
    )
    async with serving(create_app(settings, authenticate=refuse_credentials)) as gateway:
        async with http.get(f"{gateway}/asyncapi.yaml") as r:
            assert r.status == 200
            assert r.content_type == "application/yaml"
            text = await r.text()
        async with http.get(f"{gateway}/asyncapi.json") as r:
            assert r.status == 200
            assert r.content_type == "application/json"
            as_json = await r.json()
    document = yaml.safe_load(text)
    assert document == as_json
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == {event_type for event_type, _ in registered()}
    assert document["servers"]["rabbitmq"]["host"] == "broker.example:5673"
    exchange = document["components"]["channelBindings"]["exchange"]["amqp"]["exchange"]
    assert (exchange["name"], exchange["type"], exchange["vhost"]) == (
        "acme.events",
        "topic",
        "prod",
    )
    assert "s3cret" not in text
    message = document["components"]["messages"]["note.created.v1"]
    assert message["payload"] == {"$ref": "#/components/schemas/note.created.v1"}
