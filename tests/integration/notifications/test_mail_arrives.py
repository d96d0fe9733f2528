"""What arrives, to whom, with which bodies and headers: one test per kind of event."""

from __future__ import annotations

import uuid

from casemesh.events.cases import (
    CaseCancelled,
    CaseCompleted,
    TaskAssigned,
    TaskOverdue,
    TaskRef,
    TaskWaitingForClaim,
)
from casemesh.events.notes import NoteCreated
from tests.integration.notifications.conftest import identity_of, person, until

APP_UID = "7" * 32
CASE = {
    "app_uid": APP_UID,
    "app_number": 42,
    "app_title": "Office chairs",
    "app_status": "TO_DO",
    "pro_uid": "p" * 32,
    "pro_title": "Purchase request",
}


def note(author, participants, text="Please review the invoice totals.", send_mail=True):
    return NoteCreated(
        entry_id=uuid.uuid4().hex,
        app_uid=APP_UID,
        app_number=42,
        app_title="Office chairs",
        author=author,
        text=text,
        send_mail=send_mail,
        participants=participants,
    )


def task(title="Review") -> TaskRef:
    return TaskRef(
        tas_uid="t" * 32,
        tas_title=title,
        del_index=2,
        delegation_id=uuid.uuid4().hex,
        due_date="2030-01-02 10:00:00",
    )


def body(message, subtype: str) -> str:
    """A body part as text with the wire's CRLFs back to LFs."""
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def by_recipient(mails):
    return {m.rcpt_tos[0]: m for m in mails}


async def test_a_note_reaches_every_participant_but_its_author(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    text = 'Totals look low <script>alert("x")</script>\nSecond line & more'
    envelope = await service.publish(note(ann, [ann, bob, cat, bob], text), app_uid=APP_UID)

    mails = by_recipient(await service.mails(2))
    assert set(mails) == {"bob@example.com", "cat@example.com"}
    message = mails["bob@example.com"].message
    assert message["Subject"] == "[Case #42 Office chairs] Note from Ann"
    assert message["From"] == "Casemesh <noreply@casemesh.example>"
    assert message["To"] == "Bob <bob@example.com>"
    assert message["Message-ID"].endswith("@casemesh.example>")
    assert message["Date"]
    thread = f"<case.workflow.{APP_UID}@casemesh.example>"
    assert message["In-Reply-To"] == thread and message["References"] == thread
    assert message["X-Casemesh-Case"] == APP_UID
    plain = body(message, "plain")
    html = body(message, "html")
    assert text in plain  # plain text carries the note as written
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Second line &amp; more" in html
    link = f"https://casemesh.example/api/1.0/workflow/cases/{APP_UID}"
    assert link in plain and f'href="{link}"' in html
    # Two recipients, two different Message-IDs, one thread.
    assert mails["cat@example.com"].message["Message-ID"] != message["Message-ID"]
    assert mails["cat@example.com"].message["References"] == thread

    records = await service.deliveries(case=APP_UID)
    assert {(r["email"], r["status"], r["attempts"]) for r in records} == {
        ("bob@example.com", "sent", 1),
        ("cat@example.com", "sent", 1),
    }
    assert {r["event_id"] for r in records} == {envelope.id}
    assert {r["message_id"] for r in records} == {m.message["Message-ID"] for m in mails.values()}


async def test_a_note_without_send_mail_sends_nothing(service):
    ann, bob = person("ann"), person("bob")
    await service.publish(note(ann, [ann, bob], send_mail=False))
    await service.publish(note(ann, [ann, bob], text="this one is mailed"))
    mails = await service.mails(1)
    assert len(mails) == 1
    assert "this one is mailed" in body(mails[0].message, "plain")


async def test_task_events_reach_assignee_pool_and_supervisors(service):
    ann, bob, cat, sue = person("ann"), person("bob"), person("cat"), person("sue")
    await service.publish(TaskAssigned(**CASE, how="reassigned", task=task(), assignee=bob, by=ann))
    await service.publish(TaskWaitingForClaim(**CASE, task=task("Approve"), pool=[bob, cat]))
    await service.publish(
        TaskOverdue(**CASE, supervisors=[sue, bob], task=task("Pay"), assignee=bob)
    )
    mails = await service.mails(5)
    got = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in mails)
    assert got == sorted(
        [
            ("bob@example.com", "[Case #42 Office chairs] Task Review is yours"),
            ("bob@example.com", "[Case #42 Office chairs] Task Approve waits to be claimed"),
            ("cat@example.com", "[Case #42 Office chairs] Task Approve waits to be claimed"),
            ("bob@example.com", "[Case #42 Office chairs] Task Pay is overdue"),
            ("sue@example.com", "[Case #42 Office chairs] Task Pay is overdue"),
        ]
    )
    reassigned = next(m for m in mails if "is yours" in m.message["Subject"])
    assert "You were reassigned the task Review" in body(reassigned.message, "plain")


async def test_cancelled_and_completed_reach_participants_but_the_actor(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    await service.publish(CaseCancelled(**CASE, participants=[ann, bob, cat], by=ann))
    await service.publish(CaseCompleted(**CASE, participants=[ann, bob], by=None))
    mails = await service.mails(4)
    got = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in mails)
    assert got == [
        ("ann@example.com", "[Case #42 Office chairs] Completed"),
        ("bob@example.com", "[Case #42 Office chairs] Cancelled"),
        ("bob@example.com", "[Case #42 Office chairs] Completed"),
        ("cat@example.com", "[Case #42 Office chairs] Cancelled"),
    ]


async def test_a_trackops_update_reaches_the_members_who_asked(service):
    from casemesh.events import Envelope

    ann, bob = person("ann"), person("bob")
    data = {
        "entry_id": uuid.uuid4().hex,
        "app_uid": APP_UID,
        "app_number": 42,
        "app_title": "Office chairs",
        "author": ann.model_dump(),
        "title": "Shipment delayed",
        "text": "The chairs arrive next week.",
        "access_group": "staff",
        "access_group_id": 1,
        "update_id": 7,
        "thread_id": 7,
        "recipients": [ann.model_dump(), bob.model_dump()],
    }
    envelope = Envelope(
        type="update.created", version=1, source="tests", workspace="workflow", data=data
    )
    await service.publisher.publish(envelope)
    mails = await service.mails(1)
    assert [m.rcpt_tos for m in mails] == [["bob@example.com"]]
    assert mails[0].message["Subject"] == "[Case #42 Office chairs] Shipment delayed"


async def test_an_address_missing_from_an_event_comes_from_the_projection(service):
    ann, bob = person("ann"), person("bob")
    await service.publish(note(ann, [ann, bob]))
    await service.mails(1)
    service.smtp.reset()
    anonymous_bob = bob.model_copy(update={"email": ""})
    await service.publish(TaskAssigned(**CASE, how="claimed", task=task(), assignee=anonymous_bob))
    mails = await service.mails(1)
    assert mails[0].rcpt_tos == ["bob@example.com"]


async def test_a_user_sees_their_own_deliveries_and_an_admin_all(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    await service.publish(note(ann, [ann, bob, cat]))
    await service.mails(2)
    await until(lambda: _all_sent(service, 2), what="records marked sent")
    mine = await service.deliveries(identity_of(bob))
    assert [r["email"] for r in mine] == ["bob@example.com"]
    assert len(await service.deliveries()) == 2
    status, body = await service.call("GET", f"/deliveries/{mine[0]['id']}", identity_of(cat))
    assert status == 404
    status, body = await service.call("GET", f"/deliveries/{mine[0]['id']}", identity_of(bob))
    assert status == 200 and body["status"] == "sent"
    status, body = await service.call("GET", "/deliveries", params={"status": "bogus"})
    assert status == 400
    async with service.http.get(f"{service.url}/casemesh/v1/notifications/deliveries") as r:
        assert r.status == 401  # no identity the gateway vouched for


async def _all_sent(service, count: int) -> bool:
    records = await service.deliveries(status="sent")
    return len(records) >= count
