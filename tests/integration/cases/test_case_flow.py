"""A case driven through its life with ProcessMaker's endpoints."""

from __future__ import annotations

import asyncio

from tests.integration.cases.conftest import (
    ADMIN_UID,
    DIRECTOR,
    PAYMENT,
    REQUEST,
    REVIEW,
    SEQUENTIAL,
    person,
)


async def start(api, amount: str = "1500") -> dict:
    status, body = await api.call(
        "POST",
        "/cases",
        json={
            "pro_uid": SEQUENTIAL,
            "tas_uid": REQUEST,
            "variables": [{"amount": amount, "ok": True}],
        },
    )
    assert status == 200, body
    return body


async def test_sequential_case_runs_to_completion_with_a_condition(cases_api):
    api = cases_api
    created = await start(api, "1500")
    app_uid = created["app_uid"]
    assert isinstance(created["app_number"], int)

    status, todo = await api.call("GET", "/cases")
    assert status == 200
    assert [row["app_uid"] for row in todo] == [app_uid]
    row = todo[0]
    assert row["app_status"] == "TO_DO" and row["app_status_label"] == "To do"
    assert row["del_index"] == "1" and row["tas_uid"] == REQUEST
    assert row["app_title"] == f"#{created['app_number']}"
    assert row["usr_username"] == "admin"

    status, variables = await api.call("GET", f"/cases/{app_uid}/variables")
    assert variables["amount"] == "1500" and variables["ok"] == "1"
    assert variables["APPLICATION"] == app_uid and variables["SYS_SYS"] == "workflow"

    for expected_task in (REVIEW, DIRECTOR, PAYMENT):
        status, body = await api.call("PUT", f"/cases/{app_uid}/route-case", json={})
        assert status == 200, body
        status, current = await api.call("GET", f"/cases/{app_uid}/current-task")
        assert status == 200, current
        assert [t["tas_uid"] for t in current] == [expected_task]

    status, body = await api.call("PUT", f"/cases/{app_uid}/route-case", json={})
    assert status == 200, body
    status, info = await api.call("GET", f"/cases/{app_uid}")
    assert info["app_status"] == "COMPLETED" and info["current_task"] == []
    status, tasks = await api.call("GET", f"/cases/{app_uid}/tasks")
    assert [t["status"] for t in tasks] == ["TASK_COMPLETED"] * 4
    assert [d["del_index"] for t in tasks for d in t["delegations"]] == [1, 2, 3, 4]

    completed = await api.events_of("case.completed")
    assert completed and completed[0].subject == app_uid
    assert completed[0].data["participants"][0]["usr_uid"] == ADMIN_UID
    routed = await api.events_of("case.routed", 4)
    assert [e.data["to_tasks"][0]["tas_uid"] for e in routed[:3]] == [REVIEW, DIRECTOR, PAYMENT]


async def test_small_amount_skips_the_director(cases_api):
    api = cases_api
    app_uid = (await start(api, "200"))["app_uid"]
    await api.call("PUT", f"/cases/{app_uid}/route-case", json={})
    await api.call("PUT", f"/cases/{app_uid}/route-case", json={})
    _status, current = await api.call("GET", f"/cases/{app_uid}/current-task")
    assert [t["tas_uid"] for t in current] == [PAYMENT]


async def test_routing_a_closed_delegation_is_refused(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    assert (await api.call("PUT", f"/cases/{app_uid}/route-case", json={"del_index": 1}))[0] == 200
    status, body = await api.call("PUT", f"/cases/{app_uid}/route-case", json={"del_index": 1})
    assert status == 400
    assert body["error"]["message"] == (
        "Bad Request: This case delegation is already closed or does not exist"
    )


async def test_fifty_concurrent_routings_of_one_delegation_exactly_one_wins(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    results = await asyncio.gather(
        *(api.call("PUT", f"/cases/{app_uid}/route-case", json={"del_index": 1}) for _ in range(50))
    )
    statuses = [s for s, _ in results]
    assert statuses.count(200) == 1, statuses
    assert all(
        b["error"]["message"].endswith("already closed or does not exist")
        for s, b in results
        if s != 200
    )
    _status, tasks = await api.call("GET", f"/cases/{app_uid}/tasks")
    assert [d["del_index"] for t in tasks for d in t["delegations"]] == [1, 2]


async def test_pages_sorting_search_and_bad_sort(cases_api):
    api = cases_api
    numbers = [(await start(api))["app_number"] for _ in range(3)]
    status, page = await api.call("GET", "/cases/paged?limit=2&dir=ASC")
    assert status == 200
    assert page["total"] == 3 and page["limit"] == 2 and page["dir"] == "asc"
    assert page["sort"] == "app_cache_view.app_number"
    assert [int(r["app_number"]) for r in page["data"]] == sorted(numbers)[:2]
    status, page = await api.call("GET", "/cases/paged?start=3&limit=2&dir=ASC")
    assert [int(r["app_number"]) for r in page["data"]] == [sorted(numbers)[2]]
    status, rows = await api.call("GET", f"/cases?search=%23{numbers[1]}")
    assert [int(r["app_number"]) for r in rows] == [numbers[1]]
    status, rows = await api.call("GET", "/cases?search=REQUEST")
    assert len(rows) == 3
    status, body = await api.call("GET", "/cases?sort=APP_CACHE_VIEW.APP_NUMBER;DROP")
    assert status == 400 and "Invalid value for $sort" in body["error"]["message"]
    status, body = await api.call("GET", "/cases?dir=sideways")
    assert status == 400
    status, page = await api.call("GET", "/cases/advanced-search/paged?app_status=TO_DO")
    assert page["total"] == 3 and page["app_status"] == "TO_DO"


async def test_pause_with_a_date_unpauses_itself(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    status, body = await api.call(
        "PUT", f"/cases/{app_uid}/pause", json={"unpaused_date": "2000-01-01"}
    )
    assert status == 200, body
    for _ in range(100):
        status, info = await api.call("GET", f"/cases/{app_uid}")
        if info["app_status"] == "TO_DO":
            break
        await asyncio.sleep(0.05)
    assert info["app_status"] == "TO_DO"
    assert await api.events_of("case.unpaused")


async def test_pause_unpause_and_cancel(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    assert (await api.call("PUT", f"/cases/{app_uid}/pause", json={"unpaused_date": ""}))[0] == 200
    status, paused = await api.call("GET", "/cases/paused")
    assert [r["app_uid"] for r in paused] == [app_uid]
    status, body = await api.call("PUT", f"/cases/{app_uid}/route-case", json={})
    assert status == 400
    assert (await api.call("PUT", f"/cases/{app_uid}/unpause", json={}))[0] == 200
    assert (await api.call("PUT", f"/cases/{app_uid}/cancel"))[0] == 200
    status, body = await api.call("PUT", f"/cases/{app_uid}/cancel")
    assert body["error"]["message"] == f"Bad Request: The case '{app_uid}' is already canceled"


async def test_variables_merge_and_are_validated(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    status, _ = await api.call(
        "PUT", f"/cases/{app_uid}/variable", json={"client": "Acme", "grid": [{"a": 1}, {"a": 2}]}
    )
    assert status == 200
    status, variables = await api.call("GET", f"/cases/{app_uid}/variables")
    assert variables["amount"] == "1500" and variables["client"] == "Acme"
    assert variables["grid"] == {"1": {"a": "1"}, "2": {"a": "2"}}
    status, _body = await api.call("PUT", f"/cases/{app_uid}/variable", json={"1bad": "x"})
    assert status == 400


async def test_permissions_and_missing_fields(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    stranger = person("b" * 32, "stranger", "PM_CASES")
    status, body = await api.call("GET", f"/cases/{app_uid}", who=stranger)
    assert status == 400
    status, body = await api.call("PUT", f"/cases/{app_uid}/cancel", who=stranger)
    assert status == 400
    status, body = await api.call(
        "PUT",
        f"/cases/{app_uid}/reassign-case",
        who=stranger,
        json={"usr_uid_source": ADMIN_UID, "usr_uid_target": "b" * 32},
    )
    assert status == 400 and "PM_REASSIGNCASE" in body["error"]["message"]
    status, body = await api.call("POST", "/cases", json={"pro_uid": SEQUENTIAL})
    assert body["error"]["message"] == "Bad Request: `tas_uid` is required but missing."
    status, body = await api.call("GET", f"/cases/{'0' * 32}")
    assert body["error"]["message"] == (
        f"Bad Request: The application with $app_uid: '{'0' * 32}' does not exist."
    )


async def test_workspaces_are_isolated(cases_api):
    api = cases_api
    app_uid = (await start(api))["app_uid"]
    api.workspace = "other"
    from tests.integration.cases.conftest import admin

    status, _body = await api.call("GET", f"/cases/{app_uid}", who=admin("other"))
    assert status == 400
    status, rows = await api.call("GET", "/cases", who=admin("other"))
    assert rows == []
    api.workspace = "workflow"
    status, _ = await api.call("GET", "/cases", who=admin("other"))
    assert status == 401


async def test_a_pause_timer_survives_a_restart(tmp_path):
    """The unpause date is stored: a service started later still unpauses the case."""
    import aiohttp

    from casemesh.bus.memory import InProcessBus
    from casemesh.settings import Settings
    from services.cases.app import create_app
    from tests.fixtures.web import serving
    from tests.integration.cases.conftest import EXAMPLES, SECRET, CasesApi

    settings = Settings(
        mode="embedded",
        data_dir=tmp_path,
        internal_secret=SECRET,
        admin_password="pw-for-restart",
        definitions_dir=EXAMPLES,
        timer_interval=0.1,
    )

    async def running(http):
        url_cm = serving(create_app(settings, bus=InProcessBus(), owns_bus=False))
        url = await url_cm.__aenter__()
        for _ in range(200):
            async with http.get(f"{url}/readyz") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.05)
        return url_cm, CasesApi(url, http, [])

    async with aiohttp.ClientSession() as http:
        first, api = await running(http)
        app_uid = (await start(api))["app_uid"]
        from datetime import UTC, datetime, timedelta

        soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
        assert (await api.call("PUT", f"/cases/{app_uid}/pause", json={"unpaused_date": soon}))[
            0
        ] == 200
        await first.__aexit__(None, None, None)  # the service stops while the case is paused

        second, api = await running(http)
        try:
            status, info = await api.call("GET", f"/cases/{app_uid}")
            assert info["app_status"] == "PAUSED"
            for _ in range(100):
                status, info = await api.call("GET", f"/cases/{app_uid}")
                if info["app_status"] == "TO_DO":
                    break
                await asyncio.sleep(0.1)
            assert info["app_status"] == "TO_DO"
        finally:
            await second.__aexit__(None, None, None)
