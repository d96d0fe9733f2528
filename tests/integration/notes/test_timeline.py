"""The timeline: entries of every dialect plus workflow transitions from case events."""

from __future__ import annotations

import asyncio

from casemesh.identity import PM_CASES


async def test_timeline_mixes_dialects_and_transitions(world):
    case = await world.start_case()
    app_uid = case["app_uid"]
    carol = world.carol()
    task = (await world.task_ids(app_uid))[0]
    await world.request(
        "POST", f"/api/1.0/workflow/cases/{app_uid}/note", json={"note_content": "a note"}
    )
    await world.request("POST", f"/api/case/task/{task}/log", json={"message": "a log"})
    _, groups, _ = await world.request("GET", "/api/v1/case/updates/access-groups", carol)
    staff = next(g["id"] for g in groups["access_groups"] if g["grp_uid"] == world.staff)
    update = {
        "access_group_id": staff,
        "casefile_id": case["app_number"],
        "title": "t",
        "body": "u",
    }
    status, _, _ = await world.request(
        "POST", "/api/v1/case/updates", carol, json={"update": update}
    )
    assert status == 201

    path = f"/casemesh/v1/timeline/{app_uid}"
    for _ in range(100):
        status, body, _ = await world.request("GET", path)
        if {"transition"} <= {e["kind"] for e in body["entries"]}:
            break
        await asyncio.sleep(0.05)
    assert status == 200
    kinds = [e["kind"] for e in body["entries"]]
    assert {"note", "log", "update", "transition"} <= set(kinds)
    ats = [e["at"] for e in body["entries"]]
    assert ats == sorted(ats)
    assert any("Case created" in e["text"] for e in body["entries"])

    status, only, _ = await world.request("GET", path + "?kind=note,log")
    assert [e["kind"] for e in only["entries"]] == ["note", "log"]
    status, mine, _ = await world.request("GET", path + f"?author={carol.user_uid}")
    assert [e["kind"] for e in mine["entries"]] == ["update"]
    status, paged, _ = await world.request("GET", path + "?per_page=1&page=2&dir=desc")
    assert len(paged["entries"]) == 1 and paged["meta"]["total"] == len(kinds)

    bob = world.who("bob", PM_CASES)  # participant, not in the update's access group
    status, seen, _ = await world.request("GET", path, bob)
    assert status == 200 and "update" not in {e["kind"] for e in seen["entries"]}
    status, _, _ = await world.request("GET", path, world.who("dave", PM_CASES))
    assert status == 404
    status, err, _ = await world.request("GET", path + "?kind=secret")
    assert status == 400 and err["status"] == 400
