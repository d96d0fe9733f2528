"""The notes service's OpenAPI fragment: complete, valid, and what the service really answers.

Every route the service's aiohttp app registers (but health, metrics and
``/internal/…``) is declared and every declared operation is served; every
schema in the fragment is valid JSON Schema and the fragment a valid OpenAPI
3.1 document; and real answers of every operation — successes and errors —
match the response schema declared for their status.
"""

from __future__ import annotations

import aiohttp
import pytest

from casemesh.bus.memory import InProcessBus
from casemesh.identity import PM_CASES
from casemesh.settings import Settings
from casemesh.web.openapi import build_fragment
from services.notes.app import create_app
from services.notes.openapi import operations
from tests.fixtures.openapi_contract import (
    Contract,
    assert_routes_match,
    assert_valid_fragment,
    declared_routes,
    fetch_contract,
)
from tests.integration.notes.conftest import World

U = "/api/v1/case/updates"


async def call(world: World, contract: Contract, method: str, template: str, who=None, **kw):
    """``world.request`` on the template filled with ``path=``, its answer checked."""
    path = template.format(**kw.pop("path", {}))
    status, body, headers = await world.request(method, path, who, **kw)
    contract.check(method, template, status, body, headers)
    return status, body


@pytest.fixture
async def contract(world: World) -> Contract:
    return await fetch_contract(world.http, world.notes_url)


async def test_every_route_is_declared_and_every_declared_route_is_served(tmp_path):
    settings = Settings(mode="embedded", data_dir=tmp_path, internal_secret="s")
    app = create_app(settings, bus=InProcessBus(), owns_bus=False)
    assert_routes_match(app, build_fragment("notes", operations()))


async def test_the_fragment_is_valid_openapi_and_json_schema(contract: Contract):
    fragment = contract.fragment
    assert_valid_fragment(fragment, "notes")
    # Errors are each dialect's own shape.
    responses = fragment["paths"]
    assert responses["/api/case/task/log/{log_id}"]["get"]["responses"]["404"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/notes.TheHiveError"}
    assert "422" in responses["/api/v1/case/updates"]["post"]["responses"]
    multipart = responses["/api/case/task/{task_id}/log"]["post"]["requestBody"]["content"]
    assert multipart["multipart/form-data"]["schema"]["properties"]["attachment"] == {
        "type": "string",
        "format": "binary",
        "description": "A file to attach (stored by the documents service).",
    }


async def case_notes(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    base = "/api/1.0/{workspace}/cases/{app_uid}"
    where = {"workspace": "workflow", "app_uid": app_uid}
    note = {"note_content": "Totals look low", "send_mail": 1}
    assert (await call(world, contract, "POST", base + "/note", path=where, json=note))[0] == 200
    status, _ = await call(
        world, contract, "POST", base + "/note", path=where, data={"note_content": "form note"}
    )
    assert status == 200
    status, listed = await call(world, contract, "GET", base + "/notes", path=where)
    assert status == 200 and len(listed) == 2
    status, page = await call(
        world, contract, "GET", base + "/notes/paged", path=where, params={"limit": "1"}
    )
    assert status == 200 and page["total"] == 2 and len(page["data"]) == 1
    for bad in ({"note_content": " "}, {"note_content": "x", "send_mail": "yes"}):
        status, err = await call(world, contract, "POST", base + "/note", path=where, json=bad)
        assert status == 400 and err["error"]["message"].startswith("Bad Request: Invalid value")
    status, err = await call(
        world, contract, "GET", base + "/notes", path=where, params={"start": "-1"}
    )
    assert status == 400
    elsewhere = {**where, "workspace": "elsewhere"}
    assert (await call(world, contract, "GET", base + "/notes", path=elsewhere))[0] == 401
    missing = {**where, "app_uid": "f" * 32}
    assert (await call(world, contract, "GET", base + "/notes/paged", path=missing))[0] == 400


async def task_logs(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    task = (await world.task_ids(app_uid))[0]
    one_task, one_log = "/api/case/task/{task_id}", "/api/case/task/log/{log_id}"
    t = {"task_id": task}
    status, log = await call(
        world, contract, "POST", one_task + "/log", path=t, json={"message": "found it"}
    )
    assert status == 201
    form = aiohttp.FormData()
    form.add_field("_json", '{"message": "with a file"}', content_type="application/json")
    form.add_field("attachment", b"%PDF-1.4 x", filename="a.pdf", content_type="application/pdf")
    status, with_file = await call(world, contract, "POST", one_task + "/log", path=t, data=form)
    assert status == 201 and with_file["attachment"]["name"] == "a.pdf"
    status, _ = await call(
        world, contract, "POST", one_task + "/log", path=t, data={"message": "f", "startDate": "5"}
    )
    assert status == 201
    status, listed = await call(world, contract, "GET", one_task + "/log", path=t)
    assert status == 200 and len(listed) == 3
    search = {"query": {"_like": {"_field": "message", "_value": "file"}}, "range": "all"}
    status, found = await call(
        world, contract, "POST", one_task + "/log/_search", path=t, json=search
    )
    assert status == 200 and [x["id"] for x in found] == [with_file["id"]]
    status, found = await call(world, contract, "POST", "/api/case/task/log/_search", json={})
    assert status == 200 and len(found) == 3
    one = {"log_id": log["id"]}
    assert (await call(world, contract, "GET", one_log, path=one))[1]["message"] == "found it"
    status, patched = await call(
        world, contract, "PATCH", one_log, path=one, json={"message": "changed"}
    )
    assert status == 200 and patched["updatedBy"] == "admin"
    assert (await call(world, contract, "DELETE", one_log, path=one))[0] == 200

    for bad in ({"_id": "x", "message": "m"}, {"message": "m", "startDate": "5"}, {"message": " "}):
        status, err = await call(world, contract, "POST", one_task + "/log", path=t, json=bad)
        assert status == 400 and err["type"] == "AttributeCheckingError", (bad, err)
    status, err = await call(world, contract, "PATCH", one_log, path=one, json={})
    assert status == 400 and err["type"] == "AttributeCheckingError"
    for body in ({"query": {"_nope": 1}}, {"range": "x"}, {"query": "text"}):
        status, err = await call(world, contract, "POST", "/api/case/task/log/_search", json=body)
        assert status == 400 and err["type"] == "SearchError", (body, err)
    status, err = await call(world, contract, "GET", one_log, path={"log_id": "nope"})
    assert status == 404 and err["type"] == "NotFoundError"
    dave = world.who("dave", PM_CASES)
    status, err = await call(world, contract, "GET", one_task + "/log", dave, path=t)
    assert status == 403 and err["type"] == "AuthorizationError"


async def case_updates(world: World, contract: Contract) -> None:
    case = await world.start_case()
    carol = world.carol()
    status, groups = await call(world, contract, "GET", U + "/access-groups", carol)
    assert status == 200
    staff = next(g["id"] for g in groups["access_groups"] if g["grp_uid"] == world.staff)
    update = {
        "casefile_id": str(case["app_number"]),
        "access_group_id": staff,
        "title": "<b>Visit</b>",
        "body": "<p>On <i>site</i></p>",
        "activity_at": "2021-06-03",
        "update_details": [{"start_at": "09:00", "notes": "arrived"}, {"start_at": "10:00"}],
        "subject_id": "",
    }
    status, created = await call(world, contract, "POST", U, carol, json={"update": update})
    assert status == 201 and created["update"]["title"] == "Visit"
    assert created["update"]["update_details"][1] == {"start_at": "10:00", "notes": ""}
    n = {"number": created["update"]["id"]}
    status, got = await call(world, contract, "GET", U + "/{number}", carol, path=n)
    assert status == 200 and got == created
    change = {"update": {"is_validated": "yes"}}
    status, put = await call(world, contract, "PUT", U + "/{number}", carol, path=n, json=change)
    assert status == 200 and put["update"]["is_validated"] is True
    status, page = await call(world, contract, "GET", U, carol, params={"is_valid": "true"})
    assert status == 200 and page["meta"]["total"] == 1

    for bad in (
        {"update": {"title": "t"}},
        {"title": "t"},
        {"update": {**update, "x": 1}},
        {"update": {**update, "activity_at": "0000-00-00"}},  # the pattern's shape, no date
    ):
        status, err = await call(world, contract, "POST", U, carol, json=bad)
        assert status == 422 and err["errors"], (bad, err)
    status, err = await call(world, contract, "GET", U, carol, params={"page": "0"})
    assert status == 422 and "page" in err["errors"]
    status, err = await call(world, contract, "GET", U, carol, params={"created_from": "now"})
    assert status == 422 and "created_from" in err["errors"]
    status, _ = await call(world, contract, "GET", U + "/{number}", carol, path={"number": 99999})
    assert status == 404
    bob = world.who("bob", PM_CASES, groups=(world.staff,))
    status, _ = await call(world, contract, "PUT", U + "/{number}", bob, path=n, json=change)
    assert status == 403


async def timeline(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    path = "/casemesh/v1/timeline/{app_uid}"
    status, body = await call(
        world, contract, "GET", path, path={"app_uid": app_uid}, params={"dir": "desc"}
    )
    assert status == 200 and body["meta"]["page"] == 1
    status, _ = await call(
        world, contract, "GET", path, path={"app_uid": app_uid}, params={"kind": "secret"}
    )
    assert status == 400
    assert (await call(world, contract, "GET", path, path={"app_uid": "nope"}))[0] == 404


async def test_real_answers_conform_and_every_operation_succeeds(world, contract):
    await case_notes(world, contract)
    await task_logs(world, contract)
    await case_updates(world, contract)
    await timeline(world, contract)
    assert contract.succeeded == declared_routes(contract.fragment)
