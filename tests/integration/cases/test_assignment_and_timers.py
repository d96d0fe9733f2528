"""Assignment rules, overdue events and pause timers, through the cases API."""

from __future__ import annotations

import asyncio
import uuid

from tests.integration.cases.conftest import ADMIN_UID, person
from tests.integration.cases.test_parallel_and_rules import make_user


def chain_process(pool: list[str]) -> dict:
    """start -> BALANCED -> MANUAL -> EVALUATE -> REPORT_TO -> END."""
    return {
        "uid": f"r{uuid.uuid4().hex[:20]}",
        "title": "Assignment rules",
        "start_tasks": ["start"],
        "tasks": [
            {
                "uid": "start",
                "title": "Start",
                "users": [ADMIN_UID],
                "routes": {"to": [{"task": "bal"}]},
            },
            {
                "uid": "bal",
                "title": "Balanced",
                "assignment": {"rule": "BALANCED"},
                "users": pool,
                "routes": {"to": [{"task": "man"}]},
            },
            {
                "uid": "man",
                "title": "Manual",
                "assignment": {"rule": "MANUAL"},
                "users": pool,
                "routes": {"to": [{"task": "eva"}]},
            },
            {
                "uid": "eva",
                "title": "Evaluate",
                "assignment": {"rule": "EVALUATE", "variable": "@@approver"},
                "routes": {"to": [{"task": "rep"}]},
            },
            {
                "uid": "rep",
                "title": "Reports to",
                "assignment": {"rule": "REPORT_TO"},
                "routes": {"to": [{"task": "END"}]},
            },
        ],
    }


async def current_user(api, app_uid: str) -> str:
    status, info = await api.call("GET", f"/cases/{app_uid}")
    assert status == 200, info
    return info["current_task"][0]["usr_uid"]


async def test_each_assignment_rule_picks_the_right_user(cases_api):
    api = cases_api
    boss = await make_user(api, f"boss{uuid.uuid4().hex[:6]}")
    bob = await make_user(api, f"bob{uuid.uuid4().hex[:6]}")
    carol = await make_user(api, f"carol{uuid.uuid4().hex[:6]}")
    status, body = await api.call("PUT", f"/user/{carol}", json={"usr_reports_to": boss})
    assert status == 200, body
    process = chain_process(sorted([bob, carol]))
    assert (await api.call("POST", "/processes", json=process))[0] == 201

    balanced = []
    for _ in range(2):
        status, created = await api.call(
            "POST",
            "/cases",
            json={
                "pro_uid": process["uid"],
                "tas_uid": "start",
                "variables": [{"approver": carol}],
            },
        )
        assert status == 200, created
        await api.call("PUT", f"/cases/{created['app_uid']}/route-case", json={})
        balanced.append((created["app_uid"], await current_user(api, created["app_uid"])))
    assert sorted(u for _, u in balanced) == sorted([bob, carol])  # one each, cyclically

    app_uid, holder = balanced[0]
    holder_id = person(holder, "holder", "PM_CASES")
    status, body = await api.call("PUT", f"/cases/{app_uid}/route-case", who=holder_id, json={})
    assert status == 400  # MANUAL needs the router to name the next user
    status, body = await api.call(
        "PUT", f"/cases/{app_uid}/route-case", who=holder_id, json={"next_users": {"man": boss}}
    )
    assert status == 400  # not in the pool
    status, body = await api.call(
        "PUT", f"/cases/{app_uid}/route-case", who=holder_id, json={"next_users": {"man": bob}}
    )
    assert status == 200, body
    assert await current_user(api, app_uid) == bob

    await api.call(
        "PUT", f"/cases/{app_uid}/route-case", who=person(bob, "bob", "PM_CASES"), json={}
    )
    assert await current_user(api, app_uid) == carol  # EVALUATE: @@approver
    await api.call(
        "PUT", f"/cases/{app_uid}/route-case", who=person(carol, "carol", "PM_CASES"), json={}
    )
    assert await current_user(api, app_uid) == boss  # REPORT_TO: carol's manager


async def test_an_overdue_task_is_announced_once(cases_api):
    api = cases_api
    process = {
        "uid": f"o{uuid.uuid4().hex[:20]}",
        "title": "Quick task",
        "start_tasks": ["quick"],
        "tasks": [
            {
                "uid": "quick",
                "title": "Quick",
                "users": [ADMIN_UID],
                "duration": {"value": 0.01, "unit": "MINUTES"},
                "routes": {"to": [{"task": "END"}]},
            }
        ],
    }
    assert (await api.call("POST", "/processes", json=process))[0] == 201
    status, created = await api.call(
        "POST", "/cases", json={"pro_uid": process["uid"], "tas_uid": "quick"}
    )
    assert status == 200
    overdue = await api.events_of("case.task.overdue", timeout=10)
    assert len(overdue) == 1 and overdue[0].subject == created["app_uid"]
    assert overdue[0].data["assignee"]["usr_uid"] == ADMIN_UID
    await asyncio.sleep(1.5)  # several timer rounds later: still once
    assert len([e for e in api.events if e.type == "case.task.overdue"]) == 1
