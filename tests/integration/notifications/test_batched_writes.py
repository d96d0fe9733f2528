"""Batched store writes keep each record's compare-and-set: claims, outcomes, give-backs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from casemesh.events import Envelope
from casemesh.store.port import VersionConflict
from services.notifications.compose import message_id, thread_id
from services.notifications.deliveries import (
    COLLECTION,
    QUEUED,
    SENDING,
    SENT,
    Claims,
    Deliveries,
    NewRecords,
    delivery_id,
    failed_outcome,
    new_record,
    now,
    sent_outcome,
)
from services.notifications.ledger import Ledger
from tests.integration.notifications.conftest import person, until
from tests.integration.notifications.test_mail_arrives import APP_UID, note


def _new_records(count: int) -> list[dict]:
    """``count`` records, as the handler makes them."""
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
    return docs


async def _queued(service, count: int) -> list[dict]:
    """``count`` queued records, as the handler writes them."""
    return [await service.runtime.store.insert(COLLECTION, doc) for doc in _new_records(count)]


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
        return len(rows) == 2 and sender.ledger.written >= 2

    await until(released, what="the claims given back")
    assert service.smtp.messages == []
    sender.start_within = sender.lease / 4
    mails = await service.mails(2)
    assert len(mails) == 2
    rows = await service.deliveries()
    assert {r["status"] for r in rows} == {SENT}
    assert all(r["attempts"] == 1 for r in rows)  # give-backs do not count as attempts


async def test_a_burst_is_recorded_in_fewer_commits_than_writes(service):
    ann = person("ann")
    people = [person(f"user{i}") for i in range(5)]
    for i in range(20):
        await service.publish(note(ann, [ann, *people], text=f"note {i}"))
    await service.mails(100, timeout=20)
    await until(lambda: service.instances[0].sender.stats.sent == 100, what="100 outcomes")
    ledger = service.instances[0].sender.ledger
    assert ledger.written == 100
    # 20 events' records, the claims and 100 outcomes, in fewer transactions.
    assert ledger.writes >= 120 + 1
    assert ledger.commits < ledger.writes and ledger.largest > 1
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


async def test_a_failed_group_commit_applies_each_write_on_its_own(service, monkeypatch):
    await _stopped_sender(service)
    deliveries = Deliveries(service.runtime.store)
    ledger = Ledger(deliveries)
    queued = await _queued(service, 3)
    fresh = [dict(doc, id=doc["id"][:-4] + "beef") for doc in queued[:2]]
    for doc in fresh:
        doc.pop("_version")
    real_apply_in, shared = deliveries.apply_in, []

    async def apply_in_failing_the_third(tx, write):
        shared.append(type(write))
        if len(shared) == 3:
            raise VersionConflict("the shared transaction lost a race")  # as MongoDB aborts
        return await real_apply_in(tx, write)

    monkeypatch.setattr(deliveries, "apply_in", apply_in_failing_the_third)
    # Submitted together: they share one transaction, which fails; then each alone.
    new, claimed, duplicate = await asyncio.gather(
        ledger.record(fresh),
        ledger.claim(queued[:2], owner="me", lease=60),
        ledger.record([queued[2]]),  # already recorded: not written again
    )
    assert shared == [NewRecords, Claims, NewRecords]
    assert new == 2 and duplicate == 0  # the rolled-back inserts were redone
    assert [c["id"] for c in claimed] == [d["id"] for d in queued[:2]]
    assert ledger.commits == 3 and ledger.writes == 3 and ledger.written == 0
    for doc in fresh:
        assert (await deliveries.get(doc["id"]))["status"] == QUEUED
    written = await asyncio.gather(*(ledger.write(sent_outcome(c)) for c in claimed))
    assert written == [True, True]
    assert ledger.commits == 4 and ledger.largest == 2  # the two outcomes went together
    assert ledger.written == 2
    assert {(await deliveries.get(d["id"]))["status"] for d in queued[:2]} == {SENT}


async def test_one_commit_carries_at_most_500_records(service):
    await _stopped_sender(service)
    ledger = Ledger(Deliveries(service.runtime.store))
    batches = [_new_records(n) for n in (300, 150, 100, 1)]
    counts = await asyncio.gather(*(ledger.record(docs) for docs in batches))
    assert counts == [300, 150, 100, 1]
    # 300 + 150 fill one commit; 100 more would pass 500, so they start the next.
    assert ledger.commits == 2 and ledger.writes == 4 and ledger.largest == 2


async def test_a_slow_send_does_not_hold_up_later_deliveries(service):
    """The sender is a pipeline: what is recorded meanwhile is sent, not queued behind."""
    sender = service.instances[0].sender
    real_send, held = sender.mailer.send, asyncio.Event()

    async def send(message):
        if "slow@example.com" in str(message["To"]):
            await held.wait()
        await real_send(message)

    sender.mailer.send = send  # type: ignore[method-assign]
    try:
        ann, slow, bob = person("ann"), person("slow"), person("bob")
        await service.publish(note(ann, [ann, slow], text="first"))
        await until(lambda: sender.in_flight == 1, what="the slow send under way")
        await service.publish(note(ann, [ann, bob], text="second"))
        mails = await service.mails(1)
        assert [m.rcpt_tos for m in mails] == [["bob@example.com"]]
        # Bob's delivery settled; the first is still on the wire.
        await until(lambda: sender.in_flight == 1, what="bob's outcome written")
        assert [m.rcpt_tos for m in service.smtp.messages] == [["bob@example.com"]]
    finally:
        held.set()
    mails = await service.mails(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["bob@example.com", "slow@example.com"]


async def test_a_sender_stopped_while_claiming_gives_the_claims_back(service, monkeypatch):
    sender = service.instances[0].sender
    ledger, claiming, go_on = sender.ledger, asyncio.Event(), asyncio.Event()
    real_claim = ledger.claim

    async def slow_claim(docs, *, owner, lease):
        claiming.set()
        await go_on.wait()
        return await real_claim(docs, owner=owner, lease=lease)

    monkeypatch.setattr(ledger, "claim", slow_claim)
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    await service.publish(note(ann, [ann, bob, cat]))
    await asyncio.wait_for(claiming.wait(), 10)
    loop = next(t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "Sender.run")
    loop.cancel()
    await asyncio.sleep(0.1)
    go_on.set()  # the claim commits after the stop began
    with pytest.raises(asyncio.CancelledError):
        await loop
    rows = await service.deliveries()
    assert len(rows) == 2
    assert all(r["status"] == QUEUED and r["attempts"] == 0 for r in rows)
    assert service.smtp.messages == []
