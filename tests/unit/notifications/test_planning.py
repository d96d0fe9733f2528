"""Who gets what: the pure planners."""

from __future__ import annotations

import pydantic
import pytest

from casemesh.events import new_envelope
from casemesh.events.cases import CaseCancelled, Person, TaskOverdue, TaskRef
from casemesh.events.notes import NoteCreated
from services.notifications import kinds, planning
from services.notifications.sender import backoff

CASE = {
    "app_uid": "c" * 32,
    "app_number": 7,
    "app_title": "Chairs",
    "app_status": "TO_DO",
    "pro_uid": "p" * 32,
    "pro_title": "Purchase",
}
ANN, BOB, CAT = (Person(usr_uid=u, username=u, email=f"{u}@x.org") for u in ("ann", "bob", "cat"))
TASK = TaskRef(tas_uid="t", tas_title="Pay", del_index=3, delegation_id="d")


def wrap(data):
    return new_envelope(data, source="t", workspace="workflow")


def test_a_note_goes_to_participants_once_each_never_its_author():
    data = NoteCreated(
        entry_id="n", app_uid="c", app_number=7, author=ANN, text="hi", send_mail=True,
        participants=[ANN, BOB, CAT, BOB],
    )  # fmt: skip
    plan = planning.plan(wrap(data))
    assert plan is not None and plan.kind == kinds.NOTE_CREATED
    assert [p.usr_uid for p in plan.recipients] == ["bob", "cat"]
    assert plan.context["note"] == {"text": "hi"}


def test_a_note_without_send_mail_plans_nothing():
    data = NoteCreated(entry_id="n", app_uid="c", app_number=7, author=ANN, text="hi")
    assert planning.plan(wrap(data)) is None


def test_overdue_goes_to_the_assignee_and_the_supervisors():
    plan = planning.plan(wrap(TaskOverdue(**CASE, task=TASK, assignee=BOB, supervisors=[CAT, BOB])))
    assert plan is not None and [p.usr_uid for p in plan.recipients] == ["bob", "cat"]


def test_cancelled_spares_who_cancelled():
    plan = planning.plan(wrap(CaseCancelled(**CASE, participants=[ANN, BOB], by=ANN)))
    assert plan is not None and [p.usr_uid for p in plan.recipients] == ["bob"]


def test_an_event_that_breaks_its_contract_raises():
    envelope = wrap(CaseCancelled(**CASE, by=ANN)).model_copy(update={"data": {"app_uid": 1}})
    with pytest.raises(pydantic.ValidationError):
        planning.plan(envelope)


def test_every_consumed_event_has_a_kind():
    assert set(planning.PLANNERS) >= {"note.created", "case.task.assigned", "update.created"}


def test_backoff_doubles_up_to_its_cap():
    assert [backoff(n, first=2, cap=10) for n in range(1, 6)] == [2, 4, 8, 10, 10]
