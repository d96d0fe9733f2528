"""The gateway's proxy against a real upstream aiohttp server.

Credentials are accepted by a stand-in for the cases service's check (the
real one is tested in test_gateway_auth.py); every request carries one.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from casemesh.identity import IDENTITY_HEADER, Identity, read_identity
from casemesh.settings import Settings
from gateway.app import create_app
from gateway.auth import Credentials
from tests.fixtures.web import serving

BIG = 5 * 1024 * 1024  # over aiohttp's 1 MiB client_max_size: proves nothing buffers
SECRET = "proxy-test-secret"
AUTH = {"Authorization": "Bearer any-token"}
ALICE = Identity(workspace="workflow", user_uid="u" * 32, username="alice")


async def accept_all(credentials: Credentials, workspace: str) -> Identity:
    return ALICE


def upstream_app(seen: list[dict]) -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
        seen.append({"path": request.path_qs, "headers": dict(request.headers)})
        return web.json_response({"size": size, "sha256": digest.hexdigest()})

    async def download(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = BIG
        await response.prepare(request)
        for _ in range(BIG // 65536):
            await response.write(b"x" * 65536)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/1.0/workflow/cases/echo", echo)
    app.router.add_get("/api/1.0/workflow/cases/download", download)
    app.router.add_get("/api/1.0/workflow/cases/slow", slow)
    app.router.add_get("/api/case/task/slow/log", slow)
    return app


def gateway_for(upstream_url: str, **overrides) -> web.Application:
    urls = {f"{s}_url": upstream_url for s in ("cases", "notes", "documents", "notifications")}
    settings = Settings(**urls, internal_secret=SECRET, **overrides)
    return create_app(settings, authenticate=accept_all)


async def test_upload_streams_through_and_headers_are_curated(http):
    seen: list[dict] = []
    payload = bytes(range(256)) * (BIG // 256)
    big_bodies = {"max_body_size": 2 * BIG}  # over the 1 MiB JSON limit (docs/limits.md)
    async with serving(upstream_app(seen)) as up, serving(gateway_for(up, **big_bodies)) as gw:
        async with http.post(
            f"{gw}/api/1.0/workflow/cases/echo?x=1",
            data=payload,
            headers={"X-Request-ID": "req-123", "X-Casemesh-User": "forged-admin", **AUTH},
        ) as r:
            assert r.status == 200
            assert await r.json() == {"size": BIG, "sha256": hashlib.sha256(payload).hexdigest()}
            assert r.headers["X-Request-ID"] == "req-123"
    headers = seen[0]["headers"]
    assert seen[0]["path"] == "/api/1.0/workflow/cases/echo?x=1"
    assert headers["X-Request-ID"] == "req-123"
    assert "X-Casemesh-User" not in headers
    assert IDENTITY_HEADER in headers
    assert read_identity(headers, SECRET) == ALICE


async def test_download_streams_back(http):
    async with serving(upstream_app([])) as up, serving(gateway_for(up)) as gw:
        async with http.get(f"{gw}/api/1.0/workflow/cases/download", headers=AUTH) as r:
            assert r.status == 200
            assert r.content_length == BIG
            assert len(await r.read()) == BIG


async def test_unreachable_service_is_502_in_the_dialect_shape(http):
    async with serving(gateway_for("http://127.0.0.1:9")) as gw:
        async with http.get(f"{gw}/api/1.0/workflow/cases", headers=AUTH) as r:
            assert r.status == 502
            body = await r.json()
            assert body["error"]["code"] == 502
            assert "cases service cannot be reached" in body["error"]["message"]
        async with http.get(f"{gw}/api/case/task/t1/log", headers=AUTH) as r:
            assert r.status == 502
            assert (await r.json())["type"] == "BadGateway"
        async with http.get(f"{gw}/api/cases/c1", headers=AUTH) as r:
            assert (await r.json())["statusCode"] == 502


async def test_slow_service_times_out_with_504_and_other_routes_keep_serving(http):
    async with (
        serving(upstream_app([])) as up,
        serving(gateway_for(up, upstream_read_timeout=0.5)) as gw,
    ):
        slow = asyncio.create_task(http.get(f"{gw}/api/1.0/workflow/cases/slow", headers=AUTH))
        async with http.post(f"{gw}/api/1.0/workflow/cases/echo", data=b"hi", headers=AUTH) as r:
            assert r.status == 200
        r = await slow
        assert r.status == 504
        assert "did not answer in time" in (await r.json())["error"]["message"]
        r.release()


async def test_unknown_path_is_a_json_404(http):
    async with serving(gateway_for("http://127.0.0.1:9")) as gw:
        async with http.get(f"{gw}/no/such/thing") as r:
            assert r.status == 404
            assert (await r.json())["message"] == "no route for GET /no/such/thing"
