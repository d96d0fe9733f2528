"""Every declared route refuses anonymous callers; hostile bodies get a clear 4xx.

The list of routes is the gateway's own OpenAPI document, so a route added
later without authentication fails here unless it is declared open.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.integration.gateway.platform import WS, case_uids, running, sign_in, start_case

OPEN = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.yaml", "/asyncapi.json"}
PARAM = re.compile(r"{([^}]+)}")
# Each API family's error body, as casemesh/web/dialects.py writes it.
SHAPES = (
    (re.compile(r"^/api/1\.0/"), lambda b: set(b) == {"error"} and b["error"]["code"] == 401),
    (re.compile(r"^/api/case/task/|^/api/datastore"), lambda b: set(b) == {"type", "message"}),
    (re.compile(r"^(/s/[^/]+)?/api/cases/"), lambda b: b.get("statusCode") == 401),
)


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    # Anonymous calls pay the per-address bucket; this test makes ~120 in a row.
    async with running(tmp_path_factory.mktemp("anonymous"), rate_limit_enabled=False) as p:
        yield p


def fill(path: str) -> str:
    values = {"workspace": WS, "ws": WS, "space": "default"}
    return PARAM.sub(lambda m: values.get(m.group(1), "x1"), path)


async def test_every_route_needing_credentials_refuses_anonymous_calls(platform):
    gw = platform.gateway_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw}/openapi.json") as r:
            document = await r.json()
        checked = 0
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if not operation.get("security") or path in OPEN:
                    continue
                url = gw + fill(path)
                async with http.request(method.upper(), url, json={}) as r:
                    body = await r.json(content_type=None)
                    assert r.status == 401, (method, path, r.status, body)
                for pattern, shaped in SHAPES:
                    if pattern.match(path):
                        assert shaped(body), (method, path, body)
                checked += 1
    assert checked > 100  # every dialect's routes, not a handful


async def test_deeply_nested_json_is_refused_and_nothing_is_created(platform):
    gw = platform.gateway_url
    async with aiohttp.ClientSession() as http:
        auth = await sign_in(http, gw)
        before = await case_uids(http, gw, auth)
        deep = "[" * 100_000 + "]" * 100_000
        body = '{"pro_uid": "a", "tas_uid": "b", "variables": ' + deep + "}"
        headers = {**auth, "Content-Type": "application/json"}
        async with http.post(f"{gw}/api/1.0/{WS}/cases", data=body, headers=headers) as r:
            answer = await r.json()
            assert r.status == 400, answer
            assert answer["error"]["code"] == 400
        assert await case_uids(http, gw, auth) == before
        # The service is still there and still works.
        await start_case(http, gw, auth)
        assert len(await case_uids(http, gw, auth)) == len(before) + 1


@pytest.mark.parametrize(
    ("path", "payload", "content_type"),
    [
        (f"/api/1.0/{WS}/cases", b'{"pro_uid": "\xff\xfe"}', "application/json"),
        (f"/api/1.0/{WS}/cases", b"pro_uid=%FF%FE&tas_uid=x", "application/x-www-form-urlencoded"),
        ("/api/v1/case/updates", b'{"update": {"body": "\xc3\x28"}}', "application/json"),
        ("/api/case/task/x1/log", b'{"message": "\xed\xa0\x80"}', "application/json"),
    ],
)
async def test_invalid_utf8_gets_a_clear_4xx(platform, path, payload, content_type):
    gw = platform.gateway_url
    async with aiohttp.ClientSession() as http:
        auth = await sign_in(http, gw)
        headers = {**auth, "Content-Type": content_type}
        async with http.post(gw + path, data=payload, headers=headers) as r:
            text = await r.text()
            assert 400 <= r.status < 500, (path, r.status, text)
            assert r.status != 401 and text  # a reason, not a sign-in failure
