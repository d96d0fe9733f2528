"""Advanced search and Participated for a user without PM_ALLCASES, with search= and sorts.

These lists run on the multikey (participants) and text (titles) indexes of
``services/cases/cases/indexes.py``; the answers must be what the rules say.
"""

from __future__ import annotations

from tests.integration.cases.conftest import ADMIN_UID, person
from tests.integration.cases.test_parallel_and_rules import make_user

OWN, SUPERVISED = "d1000000000000000000000000000000", "d2000000000000000000000000000000"


def process(uid: str, title: str, first_task: str, pool: list[str], supervisors: list[str]):
    return {
        "uid": uid,
        "title": title,
        "start_tasks": [f"{uid[:-1]}1"],
        "tasks": [
            {
                "uid": f"{uid[:-1]}1",
                "title": first_task,
                "users": pool,
                "routes": {"type": "SEQUENTIAL", "to": [{"task": f"{uid[:-1]}2"}]},
            },
            {
                "uid": f"{uid[:-1]}2",
                "title": "Final approval",
                "users": [ADMIN_UID],
                "routes": {"type": "SEQUENTIAL", "to": [{"task": "END"}]},
            },
        ],
        "supervisors": supervisors,
    }


async def start(api, pro_uid: str, who=None) -> dict:
    status, body = await api.call(
        "POST", "/cases", who, json={"pro_uid": pro_uid, "tas_uid": f"{pro_uid[:-1]}1"}
    )
    assert status == 200, body
    return body


async def test_a_user_without_all_cases_sees_own_and_supervised_cases(cases_api):
    api = cases_api
    op_uid = await make_user(api, "operator")
    op = person(op_uid, "operator", "PM_CASES")
    for definition in (
        process(OWN, "Purchase", "Intake form", [ADMIN_UID, op_uid], []),
        process(SUPERVISED, "Complaint", "Triage desk", [ADMIN_UID], [op_uid]),
    ):
        status, body = await api.call("POST", "/processes", json=definition)
        assert status == 201, body
    others = [(await start(api, OWN))["app_number"] for _ in range(3)]
    mine = [(await start(api, OWN, op))["app_number"] for _ in range(2)]
    supervised = [(await start(api, SUPERVISED))["app_number"] for _ in range(2)]
    # One of the supervised cases moves on: its task title changes, and the search follows.
    status, rows = await api.call("GET", "/cases")
    moved = next(r for r in rows if int(r["app_number"]) == supervised[0])
    status, body = await api.call("PUT", f"/cases/{moved['app_uid']}/route-case", json={})
    assert status == 200, body

    async def numbers(path: str, who=None) -> tuple[int, list[int]]:
        status, page = await api.call("GET", path, who)
        assert status == 200, page
        return page["total"], [int(r["app_number"]) for r in page["data"]]

    everyone = sorted(others + mine + supervised, reverse=True)
    assert await numbers("/cases/advanced-search/paged?limit=50") == (7, everyone)
    visible = sorted(mine + supervised, reverse=True)
    assert await numbers("/cases/advanced-search/paged?limit=50", op) == (4, visible)
    assert await numbers("/cases/advanced-search/paged?limit=2&start=2", op) == (4, visible[1:3])
    assert await numbers("/cases/participated/paged", op) == (2, sorted(mine, reverse=True))
    # search= is a case-insensitive substring of the case title or the task title.
    assert await numbers("/cases/advanced-search/paged?search=INTAKE", op) == (
        2,
        sorted(mine, reverse=True),
    )
    assert await numbers("/cases/advanced-search/paged?search=intake") == (
        5,
        sorted(others + mine, reverse=True),
    )
    assert await numbers("/cases/advanced-search/paged?search=triage%20DESK", op) == (
        1,
        [supervised[1]],
    )
    assert await numbers("/cases/advanced-search/paged?search=final%20approval", op) == (
        1,
        [supervised[0]],
    )
    assert await numbers(f"/cases/advanced-search/paged?search=%23{others[0]}", op) == (0, [])
    assert await numbers(f"/cases/advanced-search/paged?search=%23{mine[0]}", op) == (
        1,
        [mine[0]],
    )
    for sort in ("APP_UPDATE_DATE", "APP_TAS_TITLE"):  # one the indexes hold, one not
        total, rows = await numbers(f"/cases/advanced-search/paged?sort=APP_CACHE_VIEW.{sort}", op)
        assert total == 4 and sorted(rows, reverse=True) == visible
        total, rows = await numbers(
            f"/cases/advanced-search/paged?search=A&sort=APP_CACHE_VIEW.{sort}&dir=ASC", op
        )
        assert total == 4 and sorted(rows, reverse=True) == visible
