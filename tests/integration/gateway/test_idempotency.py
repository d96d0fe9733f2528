"""Idempotency-Key through a real gateway and services: retries create nothing new.

The keys live in the gateway's own SQLite store in the platform's data folder.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from tests.integration.gateway.platform import (
    APPROVAL,
    PROCESS,
    SIGNED_CONTRACT,
    SUBMIT,
    WS,
    case_uids,
    running,
    sign_in,
    start_case,
)


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    async with running(tmp_path_factory.mktemp("idempotency")) as running_platform:
        yield running_platform


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def auth(platform, http):
    return await sign_in(http, platform.gateway_url)


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


NEW_CASE = {"pro_uid": PROCESS, "tas_uid": SUBMIT}


async def post(http, url: str, headers: dict, **kw) -> tuple[int, dict, dict]:
    async with http.post(url, headers=headers, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else {}
        return r.status, body, dict(r.headers)


async def test_a_retried_case_start_returns_the_same_case_and_creates_one(platform, http, auth):
    gw = platform.gateway_url
    url = f"{gw}/api/1.0/{WS}/cases"
    before = await case_uids(http, gw, auth)
    headers = {**auth, **key()}
    first = await post(http, url, headers, json=NEW_CASE)
    again = await post(http, url, headers, json=NEW_CASE)
    assert first[0] == again[0] == 200
    assert again[1] == first[1] and "app_uid" in first[1]
    assert "Idempotent-Replayed" not in first[2]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert again[2]["Content-Type"].startswith("application/json")
    assert again[2]["X-Request-ID"] != first[2]["X-Request-ID"]  # a new request, the old answer
    assert await case_uids(http, gw, auth) == before | {first[1]["app_uid"]}
    # Without a key every POST creates.
    other = await start_case(http, gw, auth)
    assert other["app_uid"] != first[1]["app_uid"]


async def test_reusing_a_key_for_another_request_is_refused(platform, http, auth):
    gw = platform.gateway_url
    url = f"{gw}/api/1.0/{WS}/cases"
    headers = {**auth, **key()}
    assert (await post(http, url, headers, json=NEW_CASE))[0] == 200
    before = await case_uids(http, gw, auth)
    changed = {**NEW_CASE, "variables": [{"client": "Acme"}]}
    status, body, _ = await post(http, url, headers, json=changed)
    assert status == 400  # ProcessMaker answers every client error with 400
    assert "used for a different request" in body["error"]["message"]
    status, body, _ = await post(http, f"{url}/impersonate", headers, json=NEW_CASE)
    assert status == 400
    # Casemesh's own endpoints answer 422.
    pings = f"{gw}/casemesh/v1/pings"
    ping_key = {**auth, **key()}
    status, first, _ = await post(http, pings, ping_key, json={"message": "one", "workspace": WS})
    assert status == 201
    status, body, _ = await post(http, pings, ping_key, json={"message": "two", "workspace": WS})
    assert status == 422 and body["status"] == 422
    status, body, _ = await post(http, pings, ping_key, json={"message": "one", "workspace": WS})
    assert status == 201 and body == first
    assert await case_uids(http, gw, auth) == before
    # A malformed key is refused before anything runs.
    status, body, _ = await post(http, url, {**auth, "Idempotency-Key": "x" * 300}, json=NEW_CASE)
    assert status == 400 and "Idempotency-Key" in body["error"]["message"]


async def test_concurrent_requests_with_one_key_create_exactly_one_case(platform, http, auth):
    gw = platform.gateway_url
    url = f"{gw}/api/1.0/{WS}/cases"
    before = await case_uids(http, gw, auth)
    headers = {**auth, **key()}
    answers = await asyncio.gather(*(post(http, url, headers, json=NEW_CASE) for _ in range(12)))
    created = await case_uids(http, gw, auth) - before
    assert len(created) == 1
    (app_uid,) = created
    for status, body, _ in answers:
        assert status in (200, 409), (status, body)
        if status == 200:
            assert body["app_uid"] == app_uid
        else:
            assert "still in progress" in body["error"]["message"]
    assert any(status == 200 for status, _, _ in answers)


async def test_a_request_still_in_flight_makes_the_same_key_wait_with_409(platform, http, auth):
    gw = platform.gateway_url
    url = f"{gw}/api/1.0/{WS}/cases"
    headers = {**auth, **key(), "Content-Type": "application/json"}
    release = asyncio.Event()
    data = b'{"pro_uid": "%s", "tas_uid": "%s"}' % (PROCESS.encode(), SUBMIT.encode())

    async def slowly():
        yield data[:10]
        await release.wait()
        yield data[10:]

    first = asyncio.create_task(post(http, url, headers, data=slowly()))
    await asyncio.sleep(0.5)
    status, body, answer_headers = await post(http, url, headers, data=data)
    assert status == 409 and answer_headers["Retry-After"] == "1"
    assert "still in progress" in body["error"]["message"]
    release.set()
    status, created, _ = await first
    assert status == 200
    status, body, answer_headers = await post(http, url, headers, data=data)
    assert status == 200 and body == created and answer_headers["Idempotent-Replayed"] == "true"


async def test_an_upload_and_a_note_are_stored_once(platform, http, auth):
    gw = platform.gateway_url
    app_uid = (await start_case(http, gw, auth))["app_uid"]
    api = f"{gw}/api/1.0/{WS}/cases/{app_uid}"

    upload_key = {**auth, **key()}
    answers = []
    for _ in range(2):  # the same bytes each time: one boundary, one body
        writer = aiohttp.MultipartWriter("form-data", boundary="retry-boundary")
        for name, value in (("inp_doc_uid", SIGNED_CONTRACT), ("tas_uid", SUBMIT)):
            writer.append(value).set_content_disposition("form-data", name=name)
        pdf = writer.append(b"%PDF-1.4 signed" * 1000, {"Content-Type": "application/pdf"})
        pdf.set_content_disposition("form-data", name="form", filename="signed.pdf")
        answers.append(await post(http, f"{api}/input-document", upload_key, data=writer))
    (status, doc, _), (again, same, headers) = answers
    assert status == again == 200 and same == doc and headers["Idempotent-Replayed"] == "true"
    async with http.get(f"{api}/input-documents", headers=auth) as r:
        assert [d["app_doc_uid"] for d in await r.json()] == [doc["app_doc_uid"]]
    async with http.get(f"{api}/input-document/{doc['app_doc_uid']}/versions", headers=auth) as r:
        assert len(await r.json()) == 1

    approval = (await start_case(http, gw, auth, APPROVAL))["app_uid"]
    api = f"{gw}/api/1.0/{WS}/cases/{approval}"
    note_key = {**auth, **key()}
    for _ in range(3):
        async with http.post(
            f"{api}/note", json={"note_content": "only once"}, headers=note_key
        ) as r:
            assert r.status == 200, await r.text()
    async with http.get(f"{api}/notes", headers=auth) as r:
        notes = await r.json()
        assert r.status == 200, notes
    assert [n["note_content"] for n in notes] == ["only once"]


async def test_keys_belong_to_their_caller(platform, http, auth):
    gw = platform.gateway_url
    shared = key()
    carol = {
        "usr_username": "carol",
        "usr_firstname": "Carol",
        "usr_lastname": "Tester",
        "usr_email": "carol@example.com",
        "usr_new_pass": "carols-password-1",
    }
    status, _, _ = await post(http, f"{gw}/api/1.0/{WS}/users", auth, json=carol)
    assert status == 201
    carol_auth = await sign_in(http, gw, username="carol", password="carols-password-1")
    pings = f"{gw}/casemesh/v1/pings"
    ping = {"message": "hello", "workspace": WS}
    status, mine, _ = await post(http, pings, {**auth, **shared}, json=ping)
    assert status == 201
    status, hers, headers = await post(http, pings, {**carol_auth, **shared}, json=ping)
    assert status == 201 and "Idempotent-Replayed" not in headers
    assert hers["id"] != mine["id"]
