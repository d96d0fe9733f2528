"""Batched store writes keep each record's compare-and-set: claims, outcomes, give-backs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from casemesh.events import Envelope
from services.notifications.compose import message_id, thread_id
from services.notifications.deliveries import (
    COLLECTION,
    QUEUED,
    SENDING,
    SENT,
    Deliveries,
    delivery_id,
    failed_outcome,
    new_record,
    now,
    sent_outcome,
)
from tests.integration.notifications.conftest import person, until
from tests.integration.notifications.test_mail_arrives import APP_UID, note


async def _queued(service, count: int) -> list[dict]:
    """``count`` queued records, as the handler writes them."""
    docs = []
    for i in range(count):
        who = person(f"user{i}")
        event_id = Envelope(type="note.created", version=1, source="t", workspace="w").id
        doc_id = delivery_id(event_id, who.usr_uid)
        docs.append(
            new_record(
                id=doc_id,
                workspace="workflow",
                event_id=event_id,
                event_type="note.created",
                kind="note_created",
                usr_uid=who.usr_uid,
                username=who.username,
                name=who.name,
                email=who.email,
                app_uid=APP_UID,
                app_number=42,
                message_id=message_id(doc_id, "casemesh.example"),
                thread_id=thread_id("workflow", APP_UID, "casemesh.example"),
                subject=f"Batch {i}",
                text="plain",
                html="<p>html</p>",
            )
        )
    return [await service.runtime.store.insert(COLLECTION, doc) for doc in docs]


async def _stopped_sender(service):
    """The instance's own sender loop, stopped, so the test drives the records alone."""
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "__qualname__", "") == "Sender.run":
            task.cancel()
    await asyncio.sleep(0.1)


async def test_claim_all_claims_in_one_go_but_skips_what_changed(service):
    await _stopped_sender(service)
    deliveries = Deliveries(service.runtime.store)
    docs = await _queued(service, 4)
    # Another sender claimed the second one after we read it.
    assert await deliveries.claim(docs[1], owner="other", lease=60) is not None
    claimed = await deliveries.claim_all(docs, owner="me", lease=60)
    assert [c["id"] for c in claimed] == [docs[0]["id"], docs[2]["id"], docs[3]["id"]]
    for doc in claimed:
        stored = await deliveries.get(doc["id"])
        assert stored["status"] == SENDING and stored["claimed_by"] == "me"
        assert stored["attempts"] == 1 and stored["_version"] == doc["_version"] == 2
    assert (await deliveries.get(docs[1]["id"]))["claimed_by"] == "other"
    # Claiming the same reads again wins nothing: every version moved on.
    assert await deliveries.claim_all(docs, owner="late", lease=60) == []


async def test_outcomes_in_one_go_keep_their_own_rules(service):
    await _stopped_sender(service)
    deliveries = Deliveries(service.runtime.store)
    docs = await _queued(service, 3)
    claimed = await deliveries.claim_all(docs, owner="me", lease=60)
    # The third one's lease ran out and another sender took it over.
    taken = await deliveries.claim(claimed[2], owner="other", lease=60)
    assert taken is not None
    written = await deliveries.record_outcomes(
        [
            sent_outcome(claimed[0]),
            failed_outcome(claimed[1], "SMTP 550", permanent=True),
            failed_outcome(claimed[2], "SMTP 550", permanent=True),  # stale: not written
        ]
    )
    assert written == [True, True, False]
    first, second, third = [await deliveries.get(d["id"]) for d in docs]
    assert first["status"] == SENT and first["sent_at"]
    assert second["status"] == "failed" and second["permanent"] is True
    assert third["status"] == SENDING and third["claimed_by"] == "other"
    # ``sent`` is written whatever happened meanwhile: the message left.
    assert await deliveries.record_outcomes([sent_outcome(claimed[2])]) == [True]
    assert (await deliveries.get(docs[2]["id"]))["status"] == SENT


async def test_a_claim_that_waited_too_long_is_given_back_unsent(service):
    sender = service.instances[0].sender
    sender.start_within = -1.0  # every claim is already too old to start
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    await service.publish(note(ann, [ann, bob, cat]))

    async def released() -> bool:
        rows = await service.deliveries()
        return len(rows) == 2 and sender.outcomes.written >= 2

    await until(released, what="the claims given back")
    assert service.smtp.messages == []
    sender.start_within = sender.lease / 4
    mails = await service.mails(2)
    assert len(mails) == 2
    rows = await service.deliveries()
    assert {r["status"] for r in rows} == {SENT}
    assert all(r["attempts"] == 1 for r in rows)  # give-backs do not count as attempts


async def test_a_burst_is_recorded_in_fewer_commits_than_outcomes(service):
    ann = person("ann")
    people = [person(f"user{i}") for i in range(5)]
    for i in range(20):
        await service.publish(note(ann, [ann, *people], text=f"note {i}"))
    await service.mails(100, timeout=20)
    await until(lambda: service.instances[0].sender.stats.sent == 100, what="100 outcomes")
    outcomes = service.instances[0].sender.outcomes
    assert outcomes.written == 100
    assert outcomes.commits < outcomes.written
    rows = await service.deliveries()
    assert len(rows) == 100 and {r["status"] for r in rows} == {SENT}
    assert len({m.message["Message-ID"] for m in service.smtp.messages}) == 100


def test_a_released_record_is_due_now_with_its_attempt_returned():
    from services.notifications.deliveries import released_outcome

    doc = {"id": "x", "_version": 2, "attempts": 3, "status": SENDING, "claimed_by": "me"}
    outcome = released_outcome(doc)
    assert outcome.checked and outcome.changes["status"] == QUEUED
    assert outcome.changes["attempts"] == 2 and outcome.changes["claimed_by"] == ""
    assert outcome.changes["due_at"] <= (now() + timedelta(seconds=1)).isoformat()
