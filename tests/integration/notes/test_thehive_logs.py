"""TheHive task logs through the notes service, with a real cases service."""

from __future__ import annotations

import asyncio
import hashlib
import time

import aiohttp

from casemesh.identity import PM_CASES, identity_headers
from tests.integration.cases.conftest import SECRET, admin

LOG_KEYS = {
    "_type", "_id", "id", "_parent", "_version", "message", "startDate", "createdAt",
    "createdBy", "user", "status",
}  # fmt: skip


async def setup(world):
    case = await world.start_case()
    request_task, review_task = await world.task_ids(case["app_uid"])
    return case, request_task, review_task


async def create(world, task_id, body, who=None):
    status, log, _ = await world.request("POST", f"/api/case/task/{task_id}/log", who, json=body)
    assert status == 201, log
    return log


async def test_create_get_list_patch_delete(world):
    case, task, _review = await setup(world)
    before = int(time.time() * 1000)
    log = await create(world, task, {"message": "Some message"})
    assert set(log) == LOG_KEYS
    assert log["_type"] == "case_task_log" and log["id"] == log["_id"]
    assert log["message"] == "Some message" and log["status"] == "Ok"
    assert log["createdBy"] == log["user"] == "admin"
    assert before <= log["createdAt"] <= int(time.time() * 1000) + 1
    assert isinstance(log["startDate"], int) and log["_parent"] == task

    status, same, _ = await world.request("GET", f"/api/case/task/log/{log['id']}")
    assert status == 200 and same == log

    await create(world, task, {"message": "older", "startDate": 1488919949497})
    status, listed, headers = await world.request("GET", f"/api/case/task/{task}/log")
    assert status == 200 and headers["X-Total"] == "2"
    assert [x["message"] for x in listed] == ["Some message", "older"]  # -startDate

    status, patched, _ = await world.request(
        "PATCH", f"/api/case/task/log/{log['id']}", json={"message": "Changed"}
    )
    assert status == 200 and patched["message"] == "Changed" and patched["updatedBy"] == "admin"

    status, body, _ = await world.request("DELETE", f"/api/case/task/log/{log['id']}")
    assert status == 200 and body == ""
    status, gone, _ = await world.request("GET", f"/api/case/task/log/{log['id']}")
    assert status == 200 and gone["status"] == "Deleted"

    for kind in ("log.created", "log.updated", "log.deleted"):
        assert await world.events_of(kind), kind
    created = (await world.events_of("log.created"))[0]
    assert created.subject == case["app_uid"] and created.data["task_id"] == task


async def test_attribute_checks_and_errors_in_thehive_shape(world):
    _case, task, _review = await setup(world)
    for body in ({"_id": "x", "message": "m"}, {"message": "m", "title": "t"}, {}, {"message": ""}):
        status, err, _ = await world.request("POST", f"/api/case/task/{task}/log", json=body)
        assert status == 400 and err["type"] == "AttributeCheckingError", (body, err)
    status, err, _ = await world.request("GET", "/api/case/task/log/nope")
    assert status == 404 and err == {"type": "NotFoundError", "message": err["message"]}
    status, err, _ = await world.request("GET", "/api/case/task/nope/log")
    assert status == 404 and err["type"] == "NotFoundError"
    status, err, _ = await world.request("GET", f"/api/case/task/{task}/log", False)
    assert status == 401 and err["type"] == "AuthenticationError"


async def test_multipart_create_and_the_attachment_seam(world):
    _case, task, _review = await setup(world)
    form = aiohttp.FormData()
    form.add_field("_json", '{"message": "no file"}', content_type="application/json")
    status, log, _ = await world.request("POST", f"/api/case/task/{task}/log", data=form)
    assert status == 201 and log["message"] == "no file"

    form = aiohttp.FormData()
    form.add_field(
        "_json", '{"message": "Screenshot of fake site"}', content_type="application/json"
    )
    form.add_field(
        "attachment", b"\x89PNG...", filename="../../screenshot1.png", content_type="image/png"
    )
    status, log, _ = await world.request("POST", f"/api/case/task/{task}/log", data=form)
    assert status == 201, log
    attachment = log["attachment"]
    content = b"\x89PNG..."
    digests = [hashlib.new(name, content).hexdigest() for name in ("sha256", "sha1", "md5")]
    assert attachment["name"] == "screenshot1.png"  # directory parts stripped
    assert attachment["hashes"] == digests and attachment["id"] == digests[0]
    assert attachment["size"] == len(content)
    status, listed, _ = await world.request("GET", f"/api/case/task/{task}/log")
    assert sorted(x["message"] for x in listed) == ["Screenshot of fake site", "no file"]
    async with world.http.get(
        f"{world.documents_url}/api/datastore/{attachment['id']}?name=screenshot1.png",
        headers=identity_headers(admin(), SECRET),
    ) as r:
        assert r.status == 200 and await r.read() == content


async def test_search_language(world):
    case, task, review = await setup(world)
    a = await create(world, task, {"message": "Alpha malware found", "startDate": 1000})
    b = await create(world, task, {"message": "beta phishing", "startDate": 2000})
    c = await create(world, review, {"message": "gamma MALWARE again", "startDate": 3000})
    await world.request("DELETE", f"/api/case/task/log/{b['id']}")

    async def search(body, path="/api/case/task/log/_search", query=""):
        status, found, headers = await world.request("POST", path + query, json=body)
        assert status == 200, (body, found)
        return [x["id"] for x in found], int(headers["X-Total"])

    everything = {"range": "all"}
    assert await search(everything) == ([c["id"], b["id"], a["id"]], 3)
    assert await search({"query": {}, "range": "0-2"}) == ([c["id"], b["id"]], 3)
    assert await search({"query": {"_any": "*"}, "range": "2-3"}) == ([a["id"]], 3)
    assert (await search({}, f"/api/case/task/{task}/log/_search"))[1] == 2
    cases = [
        ({"status": "Deleted"}, [b]),
        ({"_field": "status", "_value": "Ok"}, [c, a]),
        ({"_not": {"status": "Deleted"}}, [c, a]),
        (
            {"_and": [{"status": "Ok"}, {"_like": {"_field": "message", "_value": "malware"}}]},
            [c, a],
        ),
        ({"_or": [{"_id": a["id"]}, {"_id": b["id"]}]}, [b, a]),
        ({"_gt": {"startDate": 1000}}, [c, b]),
        ({"_gte": {"startDate": 1000}}, [c, b, a]),
        ({"_lt": {"startDate": 3000}}, [b, a]),
        ({"_lte": {"startDate": "2000"}}, [b, a]),
        ({"_between": {"_field": "startDate", "_from": 1000, "_to": 3000}}, [b]),
        ({"_in": {"_field": "message", "_values": ["beta phishing", "x"]}}, [b]),
        ({"_strict": {"_field": "message", "_value": "beta phishing"}}, [b]),
        ({"_wildcard": {"_field": "message", "_value": "*mal*again"}}, [c]),
        ({"_contains": "attachment.name"}, []),
        ({"_contains": "message"}, [c, b, a]),
        ({"_parent": {"_type": "case_task", "_id": review}}, [c]),
        ({"_parent": {"_type": "case_task", "_query": {"_id": task}}}, [b, a]),
        ({"_parent": {"_type": "case_task", "_query": {"title": "Review"}}}, [c]),
        ({"_string": "status:Ok AND malware"}, [c, a]),
        ({"_string": "message:*phish*"}, [b]),
        ({"createdBy": "admin", "status": "Ok"}, [c, a]),
    ]
    for query, expected in cases:
        got, total = await search({"query": query, "range": "all"})
        assert got == [x["id"] for x in expected], query
        assert total == len(expected)
    # sort, and query/range/sort in the query string
    assert (await search({"sort": ["+startDate"], "range": "all"}))[0] == [
        a["id"],
        b["id"],
        c["id"],
    ]
    assert (await search({}, query="?range=0-1&sort=%2BstartDate"))[0] == [a["id"]]
    q = '{"status":"Deleted"}'
    assert (await search({}, query=f"?query={q}"))[0] == [b["id"]]


async def test_hostile_queries_are_refused_before_running(world):
    _case, task, _review = await setup(world)
    hostile = [
        {"query": {"_where": "1==1"}},
        {"query": {"$where": "sleep(1000)"}},
        {"query": {"message": {"$ne": None}}},
        {"query": {"doc": "x"}},
        {"query": {"workspace": "other"}},
        {"query": {"text') OR 1=1 --": "x"}},
        {"query": {"_field": "json_extract(doc)", "_value": 1}},
        {"query": {"_gt": {"startDate": {"$gt": 0}}}},
        {"query": {"_in": {"_field": "status", "_values": "Ok"}}},
        {"query": {"_child": {"_type": "x", "_query": {}}}},
        {"query": {"_parent": {"_type": "case", "_id": "x"}}},
        {"query": {"_parent": {"_type": "case_task", "_query": {"workspace": "x"}}}},
        {"query": {"_string": "status:Ok OR 1"}},
        {"query": {"_and": [{"_and": [{}] * 600}]}},
        {"query": "not an object"},
        {"range": "10-2"},
        {"range": "everything"},
        {"sort": ["-workspace"]},
        {"sort": "-$natural"},
    ]
    for body in hostile:
        for path in ("/api/case/task/log/_search", f"/api/case/task/{task}/log/_search"):
            status, err, _ = await world.request("POST", path, json=body)
            assert status == 400 and err["type"] == "SearchError", (body, err)
    deep: dict = {}
    for _ in range(40):
        deep = {"_not": deep}
    status, err, _ = await world.request("POST", "/api/case/task/log/_search", json={"query": deep})
    assert status == 400 and err["type"] == "SearchError"


async def test_rights_across_users_and_workspaces(world):
    case, task, review = await setup(world)
    bob = world.who("bob", PM_CASES)  # participant (assigned Review)
    dave = world.who("dave", PM_CASES)  # no part in the case
    log = await create(world, review, {"message": "by bob"}, bob)
    assert log["createdBy"] == "bob"
    status, err, _ = await world.request(
        "POST", f"/api/case/task/{task}/log", dave, json={"message": "x"}
    )
    assert status == 403 and err["type"] == "AuthorizationError"
    status, err, _ = await world.request("GET", f"/api/case/task/log/{log['id']}", dave)
    assert status == 403
    status, err, _ = await world.request(
        "PATCH", f"/api/case/task/log/{log['id']}", world.carol(), json={"message": "x"}
    )
    assert status == 403  # carol can read notes but did not write this log
    status, _, _ = await world.request(
        "PATCH", f"/api/case/task/log/{log['id']}", bob, json={"message": "ok"}
    )
    assert status == 200
    # global search: dave sees nothing, bob sees the logs of his case
    status, found, headers = await world.request(
        "POST", "/api/case/task/log/_search", dave, json={}
    )
    assert status == 200 and found == [] and headers["X-Total"] == "0"
    # bob's visibility comes from the case events the notes service consumes
    deadline = time.monotonic() + 5
    while True:
        status, found, headers = await world.request(
            "POST", "/api/case/task/log/_search", bob, json={}
        )
        if found or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert [x["id"] for x in found] == [log["id"]]
    other = world.who("bob", PM_CASES, ws="elsewhere")
    status, err, _ = await world.request("GET", f"/api/case/task/log/{log['id']}", other)
    assert status == 404
    status, err, _ = await world.request("GET", f"/api/case/task/{task}/log", other)
    assert status == 404
