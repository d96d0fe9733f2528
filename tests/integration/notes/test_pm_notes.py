"""ProcessMaker case notes through the notes service, with a real cases service."""

from __future__ import annotations

import re

from casemesh.identity import PM_CASES
from tests.integration.cases.conftest import ADMIN_UID

NO_PERMISSION = "Bad Request: You do not have permission to access the cases notes"


def notes(app_uid: str, suffix: str = "notes") -> str:
    return f"/api/1.0/workflow/cases/{app_uid}/{suffix}"


async def add(world, app_uid, text, who=None, **extra):
    status, body, _ = await world.request(
        "POST", notes(app_uid, "note"), who, json={"note_content": text, **extra}
    )
    assert status == 200, body
    assert body == ""


async def test_create_then_list_and_page_exactly_as_the_seed(world):
    case = await world.start_case()
    app_uid = case["app_uid"]
    await add(world, app_uid, "This case needs more review before approval is given.")
    await add(world, app_uid, "Please review the Invoice totals.\nThey look too low")

    status, body, _ = await world.request("GET", notes(app_uid))
    assert status == 200
    assert [n["note_content"] for n in body] == [
        "Please review the Invoice totals.\nThey look too low",
        "This case needs more review before approval is given.",
    ]
    note = body[0]
    assert set(note) == {"app_uid", "usr_uid", "note_date", "note_content"}
    assert note["app_uid"] == app_uid and note["usr_uid"] == ADMIN_UID
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", note["note_date"])

    status, page, _ = await world.request("GET", notes(app_uid, "notes/paged"))
    assert status == 200
    assert list(page) == [
        "total", "start", "limit", "sort", "dir", "usr_uid", "date_to", "date_from", "search",
        "data",
    ]  # fmt: skip
    assert page["total"] == 2 and page["start"] == 0 and page["limit"] == 25
    assert page["sort"] == "APP_NOTES.NOTE_DATE" and page["dir"] == "DESC"
    assert page["usr_uid"] == page["date_to"] == page["date_from"] == page["search"] == ""
    assert page["data"] == body


async def test_php_form_body_and_send_mail_event(world):
    case = await world.start_case()
    app_uid = case["app_uid"]
    form = "note_content=Please+review+the+Invoice+totals.%0AThey+look+too+low&send_mail=1"
    status, body, _ = await world.request(
        "POST",
        notes(app_uid, "note"),
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    status, listed, _ = await world.request("GET", notes(app_uid))
    assert listed[0]["note_content"] == "Please review the Invoice totals.\nThey look too low"

    [event] = await world.events_of("note.created")
    assert event.subject == app_uid and event.workspace == "workflow"
    assert event.data["send_mail"] is True
    assert event.data["text"] == listed[0]["note_content"]
    emails = {p["usr_uid"]: p["email"] for p in event.data["participants"]}
    assert emails[world.users["bob"]] == "bob@example.com"
    assert ADMIN_UID in emails
    assert event.data["author"]["usr_uid"] == ADMIN_UID


async def test_content_rules(world):
    app_uid = (await world.start_case())["app_uid"]
    for bad in (
        {"note_content": ""},
        {"note_content": "x" * 501},
        {},
        {"note_content": "a", "send_mail": 2},
    ):
        status, body, _ = await world.request("POST", notes(app_uid, "note"), json=bad)
        assert status == 400, bad
        assert body["error"]["code"] == 400 and body["error"]["message"].startswith("Bad Request: ")
    await add(world, app_uid, "x" * 500)
    await add(world, app_uid, "é" * 500)  # characters, not bytes


async def test_every_filter(world):
    app_uid = (await world.start_case())["app_uid"]
    carol = world.carol()
    await add(world, app_uid, "Contract DETAILS look fine")
    await add(world, app_uid, "Ünïcode straße note", carol)
    await add(world, app_uid, "third one")

    async def page(query: str, who=None):
        status, body, _ = await world.request("GET", notes(app_uid, "notes/paged") + query, who)
        assert status == 200, body
        return body

    assert [n["note_content"] for n in (await page("?search=contract%20details"))["data"]] == [
        "Contract DETAILS look fine"
    ]
    assert (await page("?search=STRASSE"))["total"] == 1  # Unicode case folding: ß ~ ss
    assert (await page("?search=%C3%BCN%C3%8FCODE"))["total"] == 1
    assert (await page("?search=Stra%C3%9FE"))["total"] == 1
    by_carol = await page(f"?usr_uid={carol.user_uid}")
    assert by_carol["usr_uid"] == carol.user_uid and by_carol["total"] == 1
    asc = await page("?dir=asc")
    assert asc["dir"] == "ASC"
    assert asc["data"][0]["note_content"] == "Contract DETAILS look fine"
    limited = await page("?start=1&limit=1&dir=asc")
    assert limited["total"] == 3 and [n["note_content"] for n in limited["data"]] == [
        "Ünïcode straße note"
    ]
    by_user = await page("?sort=APP_NOTES.USR_UID&dir=asc")
    assert by_user["sort"] == "APP_NOTES.USR_UID"
    assert [n["usr_uid"] for n in by_user["data"]] == sorted(n["usr_uid"] for n in by_user["data"])
    today = asc["data"][0]["note_date"][:10]
    assert (await page(f"?date_from={today}"))["total"] == 3
    assert (await page(f"?date_to={today}"))["total"] == 0  # exclusive
    assert (await page("?date_from=2999-01-01"))["total"] == 0
    assert (await page("?date_to=2999-01-01"))["total"] == 3
    assert (await page("?date_from=2000-01-01&date_to=2999-01-01"))["date_from"] == "2000-01-01"
    for bad in (
        "?sort=APP_NOTES.NOTE_CONTENT",
        "?sort=text",
        "?sort=$where",
        "?dir=sideways",
        "?start=-1",
        "?limit=abc",
        "?date_from=31/01/2015",
        "?date_to=2015-01-31T00:00:00",
    ):
        status, body, _ = await world.request("GET", notes(app_uid, "notes/paged") + bad)
        assert status == 400, bad
        assert "Invalid value" in body["error"]["message"]


async def test_rights_across_users_groups_and_workspaces(world):
    app_uid = (await world.start_case())["app_uid"]
    bob = world.who("bob", PM_CASES)  # assigned to Review, no case-notes permission
    carol = world.carol()  # in "Note readers"
    carol_no_cases = world.who("carol", groups=(world.readers,))
    dave = world.who("dave", PM_CASES)

    await add(world, app_uid, "bob was here", bob)  # assigned: may create
    status, body, _ = await world.request("GET", notes(app_uid), bob)  # ...but not read
    assert (status, body["error"]["message"]) == (400, NO_PERMISSION)
    status, body, _ = await world.request("GET", notes(app_uid), carol)
    assert status == 200 and [n["note_content"] for n in body] == ["bob was here"]
    await add(world, app_uid, "carol holds the permission", carol)
    for who in (dave, carol_no_cases):
        status, body, _ = await world.request(
            "POST", notes(app_uid, "note"), who, json={"note_content": "nope"}
        )
        assert (status, body["error"]["message"]) == (400, NO_PERMISSION)
    for path in (notes(app_uid), notes(app_uid, "notes/paged")):
        status, body, _ = await world.request("GET", path, dave)
        assert (status, body["error"]["message"]) == (400, NO_PERMISSION)

    # Another workspace's user: the path's workspace is not theirs, or the case is not there.
    other = world.who("carol", PM_CASES, groups=(world.readers,), ws="elsewhere")
    status, body, _ = await world.request("GET", notes(app_uid), other)
    assert status == 401
    status, body, _ = await world.request("GET", f"/api/1.0/elsewhere/cases/{app_uid}/notes", other)
    assert status == 400 and "does not exist" in body["error"]["message"]
    status, body, _ = await world.request("GET", notes(app_uid), False)
    assert status == 401

    status, body, _ = await world.request("GET", notes("f" * 32))
    assert status == 400 and "does not exist" in body["error"]["message"]
