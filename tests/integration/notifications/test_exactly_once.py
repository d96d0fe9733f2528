"""One e-mail per (event, recipient): duplicates, outages, refusals, restarts, two instances."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from casemesh.events import Envelope
from services.notifications.compose import message_id, thread_id
from services.notifications.deliveries import (
    COLLECTION,
    SENDING,
    delivery_id,
    new_record,
    now,
    stamp,
)
from tests.integration.notifications.conftest import person, start_instance, until
from tests.integration.notifications.test_mail_arrives import APP_UID, note


def ids(mails) -> list[str]:
    return [m.message["Message-ID"] for m in mails]


async def records_where(service, **query):
    return await service.deliveries(**query)


async def test_a_duplicate_event_sends_nothing_new(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    envelope = await service.publish(note(ann, [ann, bob, cat]))
    first = await service.mails(2)
    await service.publisher.publish(envelope)  # the same event id, delivered again
    await service.publisher.publish(envelope)
    await asyncio.sleep(1.0)
    assert ids(service.smtp.messages) == ids(first)
    assert len(await service.deliveries()) == 2


async def test_smtp_down_for_a_while_then_everything_arrives_once(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    service.smtp.stop()
    for i in range(3):
        await service.publish(note(ann, [ann, bob, cat], text=f"note {i}"))

    async def retried() -> bool:
        rows = await service.deliveries()
        return len(rows) == 6 and all(
            r["status"] == "queued" and r["attempts"] >= 2 and r["last_error"] for r in rows
        )

    await until(retried, 15, "every delivery retried while SMTP is down")
    service.smtp.start()
    mails = await service.mails(6, timeout=15)
    await asyncio.sleep(1.0)
    mails = service.smtp.messages
    assert len(mails) == 6 and len(set(ids(mails))) == 6
    rows = await service.deliveries()
    assert {r["status"] for r in rows} == {"sent"}
    assert all(r["attempts"] >= 3 for r in rows)
    assert service.instances[0].sender.stats.retried >= 12


async def test_a_permanent_550_is_recorded_and_not_retried(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    service.smtp.fail_recipient("cat@example.com", 550, "No such mailbox")
    await service.publish(note(ann, [ann, bob, cat]))
    mails = await service.mails(1)
    assert [m.rcpt_tos for m in mails] == [["bob@example.com"]]

    async def failed() -> bool:
        return len(await service.deliveries(status="failed")) == 1

    await until(failed, what="the 550 recorded")
    await asyncio.sleep(1.5)  # many retry periods of this test's settings
    [row] = await service.deliveries(status="failed")
    assert row["email"] == "cat@example.com"
    assert row["attempts"] == 1 and row["permanent"] is True
    assert "550" in row["last_error"] and "No such mailbox" in row["last_error"]


async def test_a_transient_451_is_retried_with_the_same_message(service):
    ann, bob = person("ann"), person("bob")
    service.smtp.fail_next(451, count=2)
    await service.publish(note(ann, [ann, bob]))
    mails = await service.mails(1)
    assert len(mails) == 1
    [row] = await service.deliveries()
    assert row["status"] == "sent" and row["attempts"] == 3
    assert row["message_id"] == mails[0].message["Message-ID"]


@pytest.mark.parametrize("settings_overrides", [{"notifications_retry_period": 1.0}])
async def test_transient_failures_past_the_retry_period_are_given_up(service):
    ann, bob = person("ann"), person("bob")
    service.smtp.stop()
    await service.publish(note(ann, [ann, bob]))

    async def gave_up() -> bool:
        return len(await service.deliveries(status="failed")) == 1

    await until(gave_up, 10, "the delivery given up")
    [row] = await service.deliveries()
    assert row["permanent"] is False and row["last_error"].startswith("gave up after")
    service.smtp.start()
    await asyncio.sleep(0.5)
    assert service.smtp.messages == []


async def test_two_instances_on_one_queue_send_each_mail_once(service):
    async with AsyncExitStack() as stack:
        await start_instance(stack, service)
        ann = person("ann")
        people = [person(f"user{i}") for i in range(5)]
        envelopes = [await service.publish(note(ann, [ann, *people])) for _ in range(6)]
        for envelope in envelopes:  # every event twice more, racing both instances
            await service.publisher.publish(envelope)
            await service.publisher.publish(envelope)
        mails = await service.mails(30, timeout=20)
        await asyncio.sleep(1.0)
        mails = service.smtp.messages
        assert len(mails) == 30 and len(set(ids(mails))) == 30
        senders = [i.sender.stats.sent for i in service.instances]
        assert sum(senders) == 30


async def _insert_claimed(service, *, lease_left: float) -> dict:
    """A record as a sender that died mid-send would have left it."""
    bob = person("bob")
    event_id = Envelope(type="note.created", version=1, source="t", workspace="w").id
    doc_id = delivery_id(event_id, bob.usr_uid)
    doc = new_record(
        id=doc_id,
        workspace="workflow",
        event_id=event_id,
        event_type="note.created",
        kind="note_created",
        usr_uid=bob.usr_uid,
        username=bob.username,
        name=bob.name,
        email=bob.email,
        app_uid=APP_UID,
        app_number=42,
        message_id=message_id(doc_id, "casemesh.example"),
        thread_id=thread_id("workflow", APP_UID, "casemesh.example"),
        subject="Left behind",
        text="plain",
        html="<p>html</p>",
    )
    doc.update(
        status=SENDING,
        attempts=1,
        claimed_by="dead-instance",
        due_at=stamp(now() + timedelta(seconds=lease_left)),
    )
    return await service.runtime.store.insert(COLLECTION, doc)


async def test_a_delivery_whose_sender_died_is_taken_over_after_its_lease(service):
    expired = await _insert_claimed(service, lease_left=-1.0)
    held = await _insert_claimed(service, lease_left=60.0)
    service.instances[0].sender.wake()
    mails = await service.mails(1)
    assert ids(mails) == [expired["message_id"]]
    taken = await service.runtime.store.get(COLLECTION, expired["id"])
    assert taken["status"] == "sent" and taken["attempts"] == 2
    assert "taken over from dead-instance" in taken["last_error"]
    assert service.instances[0].sender.stats.taken_over == 1
    still = await service.runtime.store.get(COLLECTION, held["id"])
    assert still["status"] == SENDING and still["attempts"] == 1  # its lease still runs


async def test_an_unprocessable_event_is_dead_lettered_and_counted(service):
    broken = Envelope(
        type="note.created",
        version=1,
        source="tests",
        workspace="workflow",
        data={"app_uid": APP_UID, "send_mail": True},  # no author, no text...
    )
    await service.publisher.publish(broken)
    runtime = service.runtime

    async def dead() -> bool:
        return len(await runtime.bus.dead_letters(runtime.queue)) == 1

    await until(dead, 10, "the event in the dead-letter queue")
    [parked] = await runtime.bus.dead_letters(runtime.queue)
    assert parked.id == broken.id
    async with service.http.get(f"{service.url}/metrics") as r:
        metrics = await r.text()
    assert 'casemesh_events_dead_lettered_total{process="notifications"} 1.0' in metrics
    assert "casemesh_notifications_deliveries_total" in metrics
    assert service.smtp.messages == []
