"""Hostile requests at the gateway: other workspaces, forged internal headers, odd paths.

All through one real embedded platform; a second workspace ``other`` (with
its own ``admin``, whose user uid is the same as workflow's admin) is made
the way the cases service makes its first one.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from casemesh.identity import ALL_PERMISSIONS, Identity, identity_headers
from casemesh.internal import INTERNAL_HEADER
from services.cases.directory.bootstrap import ensure_admin, ensure_workspace, register_client
from services.cases.directory.context import DIRECTORY
from tests.integration.gateway.platform import (
    APPROVAL,
    WS,
    raw_exchange,
    running,
    sign_in,
    start_case,
    status_of,
)


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    async with running(tmp_path_factory.mktemp("security")) as running_platform:
        directory = running_platform.runners["cases"].app[DIRECTORY]
        await ensure_workspace(directory, "other")
        await register_client(directory, "other")
        await ensure_admin(directory, "other")
        yield running_platform


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def auth(platform, http):
    return await sign_in(http, platform.gateway_url)


async def get(http, url: str, headers: dict) -> tuple[int, str]:
    async with http.get(url, headers=headers) as r:
        return r.status, await r.text()


async def thehive_log(http, gw: str, auth: dict, task_id: str, message: str) -> None:
    """Post a task log, waiting for the notes service to learn of the new case."""
    deadline = time.monotonic() + 15
    while True:
        url = f"{gw}/api/case/task/{task_id}/log"
        async with http.post(url, json={"message": message}, headers=auth) as r:
            if r.status == 201:
                return
            assert r.status == 404 and time.monotonic() < deadline, await r.text()
        await asyncio.sleep(0.2)


async def test_another_workspace_sees_nothing_through_any_dialect(platform, http, auth):
    gw = platform.gateway_url
    case = await start_case(http, gw, auth, APPROVAL)
    app_uid, number = case["app_uid"], case["app_number"]
    api = f"{gw}/api/1.0/{WS}/cases/{app_uid}"
    async with http.post(f"{api}/note", json={"note_content": "secret-note"}, headers=auth) as r:
        assert r.status == 200
    async with http.get(f"{api}/current-task", headers=auth) as r:
        task_id = (await r.json())[0]["delegation_id"]
    await thehive_log(http, gw, auth, task_id, "secret-log")
    assert (await get(http, f"{gw}/api/case/task/{task_id}/log", auth))[0] == 200

    outsider = await sign_in(http, gw, workspace="other")
    status, body = await get(http, f"{gw}/api/1.0/{WS}/cases", outsider)
    assert status == 401 and "workspace 'workflow'" in body
    for url in (
        f"{gw}/api/1.0/other/cases/{app_uid}",
        f"{gw}/api/1.0/other/cases/{app_uid}/notes",
        f"{gw}/api/1.0/other/cases/{app_uid}/input-documents",
        f"{gw}/api/case/task/{task_id}/log",
        f"{gw}/api/cases/{app_uid}",
        f"{gw}/casemesh/v1/timeline/{app_uid}",
    ):
        status, body = await get(http, url, outsider)
        assert status in (400, 403, 404), (url, status, body)
        assert "secret" not in body
    status, body = await get(http, f"{gw}/api/1.0/other/cases", outsider)
    assert status == 200 and app_uid not in body
    status, body = await get(http, f"{gw}/api/v1/case/updates?case={number}", outsider)
    assert "secret" not in body and app_uid not in body
    async with http.post(
        f"{gw}/api/case/task/log/_search", json={"query": {"_any": {}}}, headers=outsider
    ) as r:
        assert "secret" not in await r.text()

    # Both admins have the same user uid: their Idempotency-Keys still do not mix.
    shared = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    ping = {"message": "hi"}
    async with http.post(f"{gw}/casemesh/v1/pings", json=ping, headers={**auth, **shared}) as r:
        mine = await r.json()
    async with http.post(f"{gw}/casemesh/v1/pings", json=ping, headers={**outsider, **shared}) as r:
        assert r.status == 201 and "Idempotent-Replayed" not in r.headers
        assert (await r.json())["id"] != mine["id"]


async def test_forged_identity_and_internal_headers_from_outside_are_ignored(platform, http, auth):
    gw = platform.gateway_url
    users = f"{gw}/api/1.0/{WS}/users"
    dave = {
        "usr_username": "dave",
        "usr_firstname": "Dave",
        "usr_lastname": "Tester",
        "usr_email": "dave@example.com",
        "usr_new_pass": "daves-password-1",
        "usr_role": "PROCESSMAKER_OPERATOR",
    }
    async with http.post(users, json=dave, headers=auth) as r:
        assert r.status == 201
    dave_auth = await sign_in(http, gw, username="dave", password="daves-password-1")
    honest = await get(http, users, dave_auth)
    assert honest[0] == 403

    # Even signed with the real secret, a client's identity headers are replaced.
    secret = platform.settings.internal_secret.get_secret_value()
    admin = Identity(
        workspace=WS,
        user_uid="00000000000000000000000000000001",
        username="admin",
        permissions=frozenset(ALL_PERMISSIONS),
        role="PROCESSMAKER_ADMIN",
    )
    forged = {**identity_headers(admin, secret), INTERNAL_HEADER: secret}
    assert (await get(http, users, {**dave_auth, **forged}))[0] == 403
    status, body = await get(http, users, forged)  # and alone they are no credentials
    assert status == 401
    async with http.post(
        f"{gw}/internal/v1/authenticate",
        json={"scheme": "basic", "username": "admin", "password": "x", "workspace": WS},
        headers=forged,
    ) as r:
        assert r.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/cases/x",
        "/internal",
        "/%69nternal/v1/cases/x",
        "/api/1.0/workflow/../../internal/v1/cases/x",
        "/api/1.0/workflow/cases/%2e%2e/%2e%2e/%2e%2e/internal/v1/cases/x",
        "/api/1.0/workflow/cases/..%2f..%2f..%2finternal%2fv1%2fcases%2fx",
        "/api/case/task/./../../internal/v1/cases/x",
        "/api/cases/x/files/../../../../internal/v1/cases/x",
    ],
)
async def test_internal_endpoints_and_dot_segments_are_never_routed(platform, auth, path):
    gw = platform.gateway_url
    secret = platform.settings.internal_secret.get_secret_value()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
        f"{INTERNAL_HEADER}: {secret}\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_exchange(gw, request.encode())
    assert status_of(answer) == 404, answer[:300]
    assert b"no route for GET" in answer


async def test_crlf_and_control_characters_in_headers_are_refused(platform):
    gw = platform.gateway_url
    for bad in (
        b"X-Request-ID: abc\rSet-Cookie: pwned=1\r\n",  # a bare CR
        b"X-Note: a\r\n folded\r\n",  # obsolete line folding
        b"X-Note: a\x00b\r\n",  # NUL
        b"X Bad: name\r\n",  # a space in a header name
    ):
        answer = await raw_exchange(gw, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + bad + b"\r\n")
        assert status_of(answer) == 400, (bad, answer[:200])
        assert b"pwned" not in answer.split(b"\r\n\r\n", 1)[0]  # (the text may quote it)
    # Percent-encoded CR/LF stays data: it never splits an answer's headers.
    answer = await raw_exchange(
        gw,
        b"GET /api/1.0/workflow/cases/x%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1\r\nHost: x\r\n"
        b"X-Request-ID: id%0d%0aSet-Cookie:pwned\r\n\r\n",
    )
    assert status_of(answer) == 404  # a path with CR/LF in it is no route
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"set-cookie" not in head and b"x-request-id: id%0d%0a" not in head
