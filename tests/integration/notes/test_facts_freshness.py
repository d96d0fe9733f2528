"""Reads use cached case facts, yet permission changes take effect promptly.

A process of its own: Request (admin) -> Review (bob or dave) -> END, case
notes readable by the "Note readers" group (carol) and by admin. Every
request goes straight to the notes service with signed identity headers.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from casemesh.identity import PM_CASES, PM_REASSIGNCASE
from services.notes.keys import CASES
from tests.integration.cases.conftest import ADMIN_UID, admin
from tests.integration.notes.conftest import running_world

PROCESS = "d6000000000000000000000000000000"
REQUEST = "d6000000000000000000000000000001"
REVIEW = "d6000000000000000000000000000002"
NO_PERMISSION = "Bad Request: You do not have permission to access the cases notes"


def definition(world, note_readers: dict) -> dict:
    return {
        "uid": PROCESS,
        "title": "Freshness test",
        "start_tasks": [REQUEST],
        "tasks": [
            {
                "uid": REQUEST,
                "title": "Request",
                "users": [ADMIN_UID],
                "routes": {"to": [{"task": REVIEW}]},
            },
            {
                "uid": REVIEW,
                "title": "Review",
                "users": [world.users["bob"], world.users["dave"]],
                "assignment": {"rule": "MANUAL"},
                "routes": {"to": [{"task": "END"}]},
            },
        ],
        "permissions": [
            {"object": "CASES_NOTES", "action": "VIEW", "users": [ADMIN_UID]},
            {"object": "CASES_NOTES", "action": "VIEW", **note_readers},
        ],
    }


async def start(world, *, route: bool = True) -> str:
    case = await world.cases("POST", "/cases", json={"pro_uid": PROCESS, "tas_uid": REQUEST})
    if route:
        body = {"next_users": {REVIEW: world.users["bob"]}}
        await world.cases("PUT", f"/cases/{case['app_uid']}/route-case", json=body)
    return case["app_uid"]


async def read(world, app_uid: str, who=None) -> tuple[int, object]:
    path = f"/api/1.0/workflow/cases/{app_uid}/notes/paged?search=note"
    status, body, _ = await world.request("GET", path, who)
    return status, body


async def write(world, app_uid: str, who, text: str) -> int:
    path = f"/api/1.0/workflow/cases/{app_uid}/note"
    status, _, _ = await world.request("POST", path, who, json={"note_content": text})
    return status


def count_questions(world) -> list[str]:
    """Record the app_uids the notes service asks the cases service about."""
    client = world.notes_app[CASES]
    asked: list[str] = []
    original = client.by_uid

    async def by_uid(app_uid: str):
        asked.append(app_uid)
        return await original(app_uid)

    client.by_uid = by_uid
    return asked


async def until(check, seconds: float) -> float:
    """Seconds until ``check()`` is true; fails after ``seconds``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "did not happen in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def slow_world(tmp_path):
    """Facts may be used for a minute: only events and fresh checks can make changes show."""
    async with running_world(tmp_path, facts_ttl=60.0) as world:
        readers = {"groups": [world.readers]}
        await world.cases("POST", "/processes", json=definition(world, readers))
        yield world


@pytest.fixture
async def silent_world(tmp_path):
    """As ``slow_world``, and the cases service publishes no events: only fresh checks remain."""
    async with running_world(tmp_path, facts_ttl=60.0, cases_events=False) as world:
        readers = {"groups": [world.readers]}
        await world.cases("POST", "/processes", json=definition(world, readers))
        yield world


@pytest.fixture
async def quick_world(tmp_path):
    async with running_world(tmp_path, facts_ttl=0.5) as world:
        readers = {"groups": [world.readers]}
        await world.cases("POST", "/processes", json=definition(world, readers))
        yield world


async def quiet(world, seconds: float = 0.3) -> None:
    """Wait until no event has been published for ``seconds`` (the case's events are in)."""
    seen = -1
    while seen != len(world.events):
        seen = len(world.events)
        await asyncio.sleep(seconds)


async def test_reads_ask_the_cases_service_once_per_case(slow_world):
    world = slow_world
    app_uid = await start(world)
    await write(world, app_uid, admin(), "a note")
    await quiet(world)  # else an event of the case may drop its facts in the middle
    asked = count_questions(world)
    for _ in range(5):
        status, page = await read(world, app_uid)
        assert status == 200 and page["total"] == 1
        status, page = await read(world, app_uid, world.carol())
        assert status == 200 and page["total"] == 1
    assert asked == [app_uid]


async def test_a_revoked_process_permission_takes_effect_within_the_ttl(quick_world):
    world = quick_world
    app_uid = await start(world)
    await write(world, app_uid, admin(), "a note")
    carol = world.carol()
    assert (await read(world, app_uid, carol))[0] == 200
    revoked = definition(world, {"users": [world.users["dave"]]})  # carol's group is out
    await world.cases("PUT", f"/processes/{PROCESS}", json=revoked)  # no event tells notes

    async def refused() -> bool:
        status, body = await read(world, app_uid, carol)
        return status == 400 and body["error"]["message"] == NO_PERMISSION

    assert await until(refused, 0.5 + 1.0) <= 1.5
    for _ in range(3):
        assert await refused()
    assert (await read(world, app_uid, world.who("dave", PM_CASES)))[0] == 200


async def test_a_granted_permission_works_at_once(silent_world):
    world = silent_world
    app_uid = await start(world)
    dave = world.who("dave", PM_CASES)
    status, body = await read(world, app_uid, dave)
    assert (status, body["error"]["message"]) == (400, NO_PERMISSION)
    assert (await read(world, app_uid))[0] == 200  # the facts are cached now
    granted = definition(world, {"groups": [world.readers], "users": [world.users["dave"]]})
    await world.cases("PUT", f"/processes/{PROCESS}", json=granted)
    assert (await read(world, app_uid, dave))[0] == 200  # no waiting for a ttl of 60 s


async def test_a_deleted_case_disappears_with_its_event(slow_world):
    world = slow_world
    app_uid = await start(world, route=False)  # only a case in its first task can be deleted
    await write(world, app_uid, admin(), "a note")
    assert (await read(world, app_uid))[0] == 200
    status, _, _ = await world.request(
        "DELETE", f"/api/1.0/workflow/cases/{app_uid}", base=world.cases_url
    )
    assert status == 200

    async def gone() -> bool:
        status, body = await read(world, app_uid)
        return status == 400 and "does not exist" in body["error"]["message"]

    assert await until(gone, 5.0) < 5.0  # the ttl is 60 s: the case.deleted event did it


async def test_a_reassignment_is_honoured_at_once(silent_world):
    world = silent_world
    app_uid = await start(world)  # Review is bob's
    bob, dave = world.who("bob", PM_CASES), world.who("dave", PM_CASES)
    assert (await read(world, app_uid))[0] == 200  # admin's read caches the facts
    timeline = f"/casemesh/v1/timeline/{app_uid}"
    assert (await world.request("GET", timeline, bob))[0] == 200
    assert (await world.request("GET", timeline, dave))[0] == 404
    assert await write(world, app_uid, dave, "not yet") == 400

    body = {"usr_uid_source": world.users["bob"], "usr_uid_target": world.users["dave"]}
    reassigner = admin().model_copy(update={"permissions": admin().permissions | {PM_REASSIGNCASE}})
    status, answer, _ = await world.request(
        "PUT",
        f"/api/1.0/workflow/cases/{app_uid}/reassign-case",
        reassigner,
        base=world.cases_url,
        json=body,
    )
    assert status == 200, answer
    # No event: creating asks the cases service, and a refused read asks again.
    assert await write(world, app_uid, dave, "dave now has the task") == 200
    assert await write(world, app_uid, bob, "bob no longer does") == 400
    assert (await world.request("GET", timeline, dave))[0] == 200
