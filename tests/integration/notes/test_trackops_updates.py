"""Trackops case updates through the notes service, with a real cases service."""

from __future__ import annotations

from casemesh.identity import PM_CASES

U = "/api/v1/case/updates"


async def setup(world):
    case = await world.start_case()
    carol = world.carol()  # member of readers and staff
    status, groups, _ = await world.request("GET", f"{U}/access-groups", carol)
    assert status == 200
    numbers = {g["grp_uid"]: g["id"] for g in groups["access_groups"]}
    return case, carol, numbers[world.staff], numbers[world.readers]


async def post(world, who, update, expect=201):
    status, body, _ = await world.request("POST", U, who, json={"update": update})
    assert status == expect, body
    return body


async def test_create_get_put_threads_and_validation(world):
    case, carol, staff, _readers = await setup(world)
    carol_uid = world.users["carol"]
    await world.cases("POST", f"/group/{world.staff}/user", json={"usr_uid": carol_uid})
    created = await post(
        world,
        carol,
        {
            "access_group_id": staff,
            "casefile_id": case["app_number"],
            "subject_id": 456,
            "title": "This is a test from the API",
            "body": "<p>This is the <b>body</b><script>alert(1)</script>"
            '<img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a></p>',
            "activity_at": "2021-06-03",
            "is_allday": True,
            "update_details": [
                {"start_at": "09:00", "notes": "Investigator arrived on site"},
                {"start_at": "10:00", "notes": "<i>Claimant</i> departed"},
            ],
        },
    )
    update = created["update"]
    assert isinstance(update["id"], int) and update["casefile_id"] == case["app_number"]
    assert update["access_group_id"] == staff and update["thread_id"] == update["id"]
    body = update["body"]
    assert "<b>body</b>" in body and "script" not in body and "onerror" not in body
    assert "javascript" not in body and "<img" not in body
    assert update["activity_at"] == "2021-06-03T00:00:00Z" and update["is_allday"] is True
    assert update["update_details"][1]["notes"] == "Claimant departed"
    assert update["created_at"].endswith("Z")

    reply = (
        await post(
            world,
            carol,
            {
                "access_group_id": staff,
                "casefile_id": case["app_number"],
                "title": "Re",
                "body": "reply",
                "thread_id": update["id"],
            },
        )
    )["update"]
    assert reply["thread_id"] == update["id"]

    status, got, _ = await world.request("GET", f"{U}/{update['id']}", carol)
    assert status == 200 and got["update"] == update
    status, put, _ = await world.request(
        "PUT", f"{U}/{update['id']}", carol, json={"update": {"title": "New", "is_validated": True}}
    )
    assert status == 200, put
    assert put["update"]["title"] == "New" and put["update"]["body"] == body
    assert put["update"]["is_validated"] is True and put["update"]["validated_at"]
    assert put["update"]["validated_by_id"] == put["update"]["created_by_id"]
    assert await world.events_of("update.validated") and await world.events_of("update.created", 2)
    announced = (await world.events_of("update.created"))[0].data
    assert [p["usr_uid"] for p in announced["recipients"]] == [carol_uid]  # the access group
    assert announced["recipients"][0]["email"] and "<b>body</b>" in announced["text"]

    status, err, _ = await world.request("POST", U, carol, json={"update": {"title": "x"}})
    assert status == 422 and {"casefile_id", "access_group_id", "body"} <= set(err["errors"])
    status, err, _ = await world.request("POST", U, carol, json={"title": "not nested"})
    assert status == 422 and "update" in err["errors"]
    bad = {"access_group_id": staff, "casefile_id": 999999, "title": "t", "body": "b"}
    status, err, _ = await world.request("POST", U, carol, json={"update": bad})
    assert status == 422 and "casefile_id" in err["errors"]
    status, err, _ = await world.request(
        "POST",
        U,
        carol,
        json={"update": {**bad, "casefile_id": case["app_number"], "body": "<script>x</script>"}},
    )
    assert status == 422 and "body" in err["errors"]


async def test_filters_and_visibility(world):
    case, carol, staff, readers = await setup(world)
    n = case["app_number"]
    first = (
        await post(
            world,
            carol,
            {
                "access_group_id": staff,
                "casefile_id": n,
                "title": "a",
                "body": "a",
                "activity_at": "2021-06-03 10:00:00",
                "subject_id": 7,
            },
        )
    )["update"]
    second = (
        await post(
            world,
            carol,
            {
                "access_group_id": readers,
                "casefile_id": n,
                "title": "b",
                "body": "b",
                "activity_at": "2021-06-05",
                "is_validated": False,
            },
        )
    )["update"]

    async def ids(query, who=carol):
        status, body, _ = await world.request("GET", U + query, who)
        assert status == 200, body
        return [u["id"] for u in body["updates"]]

    assert await ids("") == [second["id"], first["id"]]
    assert await ids(f"?id={first['id']}") == [first["id"]]
    assert await ids(f"?case={n}") == [second["id"], first["id"]]
    assert await ids("?case=999999") == []
    assert await ids(f"?access_group={staff}") == [first["id"]]
    assert await ids(f"?created_by={first['created_by_id']}") == [second["id"], first["id"]]
    assert await ids("?is_valid=no") == [second["id"]]
    assert await ids("?is_valid=yes") == []
    assert await ids("?subject=7") == [first["id"]]
    assert await ids(f"?thread={second['id']}") == [second["id"]]
    assert await ids("?activity_from=2021-06-04") == [second["id"]]
    assert await ids("?from=2021-06-04") == [second["id"]]
    assert await ids("?activity_to=2021-06-03") == [first["id"]]  # the whole day
    assert await ids("?to=2021-06-03T09:59:59Z") == []
    assert await ids("?created_from=2000-01-01&created_to=2999-01-01") == [
        second["id"],
        first["id"],
    ]
    assert await ids("?updated_to=2000-01-01") == []
    assert await ids("?validated_from=2000-01-01") == [second["id"]]
    status, page, _ = await world.request("GET", U + "?per_page=1&page=2", carol)
    assert [u["id"] for u in page["updates"]] == [first["id"]]
    assert page["meta"] == {"total": 2, "page": 2, "per_page": 1, "pages": 2}
    for bad in ("?id=x", "?is_valid=maybe", "?created_from=yesterday", "?per_page=1000"):
        status, err, _ = await world.request("GET", U + bad, carol)
        assert status == 422, bad

    # Visibility: only members of the access group, and administrators.
    bob = world.who("bob", PM_CASES, groups=(world.staff,))
    assert await ids("", bob) == [first["id"]]
    status, _, _ = await world.request("GET", f"{U}/{second['id']}", bob)
    assert status == 404
    status, _, _ = await world.request(
        "PUT", f"{U}/{first['id']}", bob, json={"update": {"title": "mine now"}}
    )
    assert status == 403
    status, _, _ = await world.request(
        "POST",
        U,
        bob,
        json={"update": {"access_group_id": readers, "casefile_id": n, "title": "t", "body": "b"}},
    )
    assert status == 403
    assert await ids("", world.who("admin")) == [second["id"], first["id"]]
    other = world.who("carol", PM_CASES, groups=(world.staff, world.readers), ws="elsewhere")
    assert await ids("", other) == []
    status, _, _ = await world.request("GET", f"{U}/{first['id']}", other)
    assert status == 404
