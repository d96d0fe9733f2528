"""Case events projected together: one transition each, redeliveries leave nothing twice."""

from __future__ import annotations

import asyncio

from casemesh.bus.dedup import COLLECTION as PROCESSED
from casemesh.bus.memory import InProcessBus
from casemesh.events import Envelope
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.filters import Eq
from services.notes import projection
from services.notes.entries import ENTRIES

APP_UID = "c" * 32


def case_event(kind: str, status: str, participants: list[str]) -> Envelope:
    data = {
        "app_uid": APP_UID,
        "app_number": 7,
        "app_status": status,
        "participants": [{"usr_uid": u, "username": u} for u in participants],
        "supervisors": [],
    }
    return Envelope(type=kind, version=1, source="cases", workspace="workflow", data=data)


async def project(runtime: Runtime, envelope: Envelope) -> None:
    await projection.apply_case_event(
        runtime.store, envelope, lambda write: runtime.handled_with(envelope, write)
    )


async def test_events_handled_together_are_all_projected(store):
    runtime = Runtime("notes", Settings(), store=store, bus=InProcessBus())
    events = [
        case_event("case.created", "TO_DO", ["ann"]),
        case_event("case.task.assigned", "TO_DO", ["ann"]),
        case_event("case.routed", "TO_DO", ["ann", "bob"]),
        case_event("case.completed", "COMPLETED", ["ann", "bob"]),
    ]
    await asyncio.gather(*(project(runtime, e) for e in events))
    entries = await store.find(ENTRIES, Eq("app_uid", APP_UID))
    assert sorted(e["event_type"] for e in entries) == sorted(e.type for e in events)
    access = await store.get(projection.CASE_ACCESS, APP_UID)
    assert access["participants"] == ["ann", "bob"]
    assert access["app_status"] == "COMPLETED"  # the last event handled
    # Each event's de-duplication record went in with its projection.
    assert len(await store.find(PROCESSED)) == 4
    assert runtime.consumer_writes.commits < 4


async def test_a_redelivered_event_is_projected_once_and_spoils_no_batch(store):
    runtime = Runtime("notes", Settings(), store=store, bus=InProcessBus())
    first = case_event("case.created", "TO_DO", ["ann"])
    await project(runtime, first)
    routed = case_event("case.routed", "TO_DO", ["ann", "bob"])
    # The redelivery and a new event handled at the same moment.
    await asyncio.gather(project(runtime, first), project(runtime, routed))
    entries = await store.find(ENTRIES, Eq("app_uid", APP_UID))
    assert sorted(e["id"] for e in entries) == sorted(
        [f"transition:{first.id}", f"transition:{routed.id}"]
    )
    access = await store.get(projection.CASE_ACCESS, APP_UID)
    assert access["participants"] == ["ann", "bob"]
