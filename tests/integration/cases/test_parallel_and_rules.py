"""Parallel split and join, self-service claim, impersonation, reassignment, triggers."""

from __future__ import annotations

import uuid

from tests.integration.cases.conftest import ADMIN_UID, person

SUBMIT, LEGAL, FINANCE, CONSOLIDATE = "t-submit", "t-legal", "t-finance", "t-consolidate"


async def make_user(api, name: str) -> str:
    status, body = await api.call(
        "POST",
        "/users",
        json={
            "usr_username": name,
            "usr_firstname": name.title(),
            "usr_lastname": "Tester",
            "usr_email": f"{name}@example.com",
            "usr_new_pass": "a-long-password-1",
            "usr_cnf_pass": "a-long-password-1",
            "usr_role": "PROCESSMAKER_OPERATOR",
        },
    )
    assert status in (200, 201), body
    return body["usr_uid"]


async def make_group(api, title: str, members: list[str]) -> str:
    status, body = await api.call(
        "POST", "/groups", json={"grp_title": title, "grp_status": "ACTIVE"}
    )
    assert status in (200, 201), body
    for uid in members:
        status, added = await api.call(
            "POST", f"/group/{body['grp_uid']}/user", json={"usr_uid": uid}
        )
        assert status in (200, 201), added
    return body["grp_uid"]


def parallel_process(group: str) -> dict:
    return {
        "uid": f"p{uuid.uuid4().hex[:20]}",
        "title": "Contract review (test)",
        "start_tasks": [SUBMIT],
        "triggers": [{"uid": "tr-mark", "title": "Mark", "script": '@@stage = "submitted"'}],
        "tasks": [
            {
                "uid": SUBMIT,
                "title": "Submit",
                "users": [ADMIN_UID],
                "triggers": {"after": ["tr-mark"]},
                "routes": {"type": "PARALLEL", "to": [{"task": LEGAL}, {"task": FINANCE}]},
            },
            {
                "uid": LEGAL,
                "title": "Legal review",
                "assignment": {"rule": "SELF_SERVICE"},
                "groups": [group],
                "routes": {"type": "SEC-JOIN", "to": [{"task": CONSOLIDATE}]},
            },
            {
                "uid": FINANCE,
                "title": "Finance review",
                "users": [ADMIN_UID],
                "routes": {"type": "SEC-JOIN", "to": [{"task": CONSOLIDATE}]},
            },
            {
                "uid": CONSOLIDATE,
                "title": "Consolidate",
                "users": [ADMIN_UID],
                "adhoc_groups": [group],
                "routes": {"to": [{"task": "END"}]},
            },
        ],
    }


async def setup(api) -> tuple[dict, str, str]:
    bob, carol = (
        await make_user(api, f"bob{uuid.uuid4().hex[:6]}"),
        await make_user(api, f"carol{uuid.uuid4().hex[:6]}"),
    )
    group = await make_group(api, f"Reviewers {uuid.uuid4().hex[:6]}", [bob, carol])
    process = parallel_process(group)
    status, body = await api.call("POST", "/processes", json=process)
    assert status == 201, body
    return process, bob, carol


async def test_parallel_split_self_service_claim_and_join(cases_api):
    api = cases_api
    process, bob, carol = await setup(api)
    bob_id = person(bob, "bob", "PM_CASES")
    status, created = await api.call(
        "POST", "/cases", json={"pro_uid": process["uid"], "tas_uid": SUBMIT}
    )
    assert status == 200, created
    app_uid = created["app_uid"]
    assert (await api.call("PUT", f"/cases/{app_uid}/route-case", json={}))[0] == 200

    status, current = await api.call("GET", f"/cases/{app_uid}/current-task")
    assert sorted(t["tas_uid"] for t in current) == [FINANCE, LEGAL]
    status, variables = await api.call("GET", f"/cases/{app_uid}/variables")
    assert variables["stage"] == "submitted"  # the after-trigger ran

    status, unassigned = await api.call("GET", "/cases/unassigned", who=bob_id)
    assert [r["tas_uid"] for r in unassigned] == [LEGAL]
    waiting = await api.events_of("case.task.unassigned")
    assert all(p["email"].endswith("@example.com") for p in waiting[-1].data["pool"])
    assert sorted(p["usr_uid"] for p in waiting[-1].data["pool"]) == sorted([bob, carol])

    assert (await api.call("PUT", f"/cases/{app_uid}/claim", who=bob_id, json={}))[0] == 200
    status, body = await api.call(
        "PUT", f"/cases/{app_uid}/claim", who=person(carol, "c", "PM_CASES"), json={}
    )
    assert status == 400  # already claimed: nothing unassigned left
    claimed = [
        e for e in await api.events_of("case.task.assigned", 3) if e.data["how"] == "claimed"
    ]
    assert claimed and claimed[0].data["assignee"]["usr_uid"] == bob

    finance = next(t for t in current if t["tas_uid"] == FINANCE)
    assert (
        await api.call(
            "PUT", f"/cases/{app_uid}/route-case", json={"del_index": int(finance["del_index"])}
        )
    )[0] == 200
    status, current = await api.call("GET", f"/cases/{app_uid}/current-task")
    assert [t["tas_uid"] for t in current] == [LEGAL]  # the join waits for the legal branch

    status, todo = await api.call("GET", "/cases", who=bob_id)
    assert [r["tas_uid"] for r in todo] == [LEGAL]
    assert (await api.call("PUT", f"/cases/{app_uid}/route-case", who=bob_id, json={}))[0] == 200
    status, current = await api.call("GET", f"/cases/{app_uid}/current-task")
    assert [t["tas_uid"] for t in current] == [CONSOLIDATE]

    # Reassign needs PM_REASSIGNCASE (admin has it); the target must be in the pool or ad hoc.
    status, body = await api.call(
        "PUT",
        f"/cases/{app_uid}/reassign-case",
        json={"usr_uid_source": ADMIN_UID, "usr_uid_target": carol},
    )
    assert status == 200, body
    status, info = await api.call("GET", f"/cases/{app_uid}")
    assert [t["usr_uid"] for t in info["current_task"]] == [carol]
    carol_id = person(carol, "carol", "PM_CASES")
    assert (await api.call("PUT", f"/cases/{app_uid}/route-case", who=carol_id, json={}))[0] == 200
    status, info = await api.call("GET", f"/cases/{app_uid}")
    assert info["app_status"] == "COMPLETED"
    status, participated = await api.call("GET", "/cases/participated", who=bob_id)
    assert [r["app_uid"] for r in participated] == [app_uid]


async def test_impersonate_creates_a_draft_and_delete_only_in_the_first_task(cases_api):
    api = cases_api
    process, bob, _ = await setup(api)
    status, created = await api.call(
        "POST",
        "/cases/impersonate",
        json={"pro_uid": process["uid"], "tas_uid": SUBMIT, "usr_uid": ADMIN_UID},
    )
    assert status == 200, created
    status, drafts = await api.call("GET", "/cases/draft")
    assert [r["app_uid"] for r in drafts] == [created["app_uid"]]
    assert drafts[0]["app_status"] == "DRAFT"
    status, body = await api.call(
        "POST",
        "/cases/impersonate",
        json={"pro_uid": process["uid"], "tas_uid": SUBMIT, "usr_uid": bob},
    )
    assert status == 400  # bob is not in the start task's pool
    assert (await api.call("DELETE", f"/cases/{created['app_uid']}"))[0] == 200
    status, body = await api.call("GET", f"/cases/{created['app_uid']}")
    assert status == 400 and "does not exist" in body["error"]["message"]

    status, other = await api.call(
        "POST", "/cases", json={"pro_uid": process["uid"], "tas_uid": SUBMIT}
    )
    await api.call("PUT", f"/cases/{other['app_uid']}/route-case", json={})
    status, body = await api.call("DELETE", f"/cases/{other['app_uid']}")
    assert status == 400 and "initial task" in body["error"]["message"]


async def test_execute_trigger_changes_variables(cases_api):
    api = cases_api
    process, _, _ = await setup(api)
    status, created = await api.call(
        "POST", "/cases", json={"pro_uid": process["uid"], "tas_uid": SUBMIT}
    )
    app_uid = created["app_uid"]
    assert (await api.call("PUT", f"/cases/{app_uid}/execute-trigger/tr-mark"))[0] == 200
    status, variables = await api.call("GET", f"/cases/{app_uid}/variables")
    assert variables["stage"] == "submitted"
    status, body = await api.call("PUT", f"/cases/{app_uid}/execute-trigger/nope")
    assert status == 400 and "does not exist" in body["error"]["message"]
    changed = await api.events_of("case.variables.changed")
    assert changed[-1].data["changed"] == ["stage"]
