"""The gateway following fetch URLs (``gateway/internal_fetch.py``) against real servers.

A stand-in for the documents service answers with fetch URLs of a second
server (the "object store" here: any HTTP server honouring Range will do;
tests/integration/documents/test_direct_downloads.py runs the real pair on
SeaweedFS). Credentials are accepted by a stand-in for the cases service's
check, as in test_gateway_proxy.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from casemesh.direct_fetch import OFFER_HEADER, RANGE_HEADER, URL_HEADER
from casemesh.identity import Identity
from casemesh.settings import Settings
from gateway.app import create_app
from gateway.auth import Credentials
from tests.fixtures.web import serving

SECRET = "internal-fetch-test-secret"
AUTH = {"Authorization": "Bearer any-token"}
DATA = os.urandom(700 * 1024 + 3)
PM = "/api/1.0/workflow/cases/c1/input-document/d1"  # routed to documents
HIVE = "/api/datastore/" + "a" * 64  # routed to documents, TheHive's error shape
CASES = "/api/1.0/workflow/cases/c1"  # routed to cases


async def accept_all(credentials: Credentials, workspace: str) -> Identity:
    return Identity(workspace="workflow", user_uid="u" * 32, username="alice")


@dataclass
class Store:
    """An object store stand-in: serves DATA with Range; ``mode`` makes it misbehave."""

    mode: str = "ok"
    hits: list[dict] = field(default_factory=list)

    def app(self) -> web.Application:
        async def blob(request: web.Request) -> web.StreamResponse:
            self.hits.append({"path": request.path_qs, "headers": dict(request.headers)})
            if self.mode == "missing":
                return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
            if self.mode == "failing":
                return web.Response(status=500, text="<Error><Code>InternalError</Code></Error>")
            if self.mode == "expired":
                return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
            first, last = request.headers["Range"].removeprefix("bytes=").split("-")
            body = DATA[int(first) : int(last) + 1]
            if self.mode == "short":
                body = body[:-1]  # an object smaller than the record says
            response = web.StreamResponse(status=206)
            response.content_length = len(body)
            await response.prepare(request)
            if self.mode == "breaks":
                await response.write(body[: len(body) // 2])
                request.transport.close()
                return response
            await response.write(body)
            return response

        app = web.Application()
        app.router.add_get("/bucket/{key:.*}", blob)
        return app


@dataclass
class Upstream:
    """A stand-in for the services: hands every answer a fetch URL (``url``) and range."""

    url: str = ""
    fetch_range: str = ""
    seen: list[dict] = field(default_factory=list)

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            self.seen.append({"method": request.method, "headers": dict(request.headers)})
            headers = {"ETag": '"etag"', "Content-Disposition": "attachment; filename=a.bin"}
            status = 200
            if "Range" in request.headers:
                status = 206
                headers["Content-Range"] = f"bytes {self.fetch_range}/{len(DATA)}"
            headers[URL_HEADER] = self.url
            headers[RANGE_HEADER] = self.fetch_range or f"0-{len(DATA) - 1}"
            return web.Response(status=status, headers=headers, content_type="application/x-bin")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return app


def gateway_for(upstream_url: str, **overrides) -> web.Application:
    urls = {f"{s}_url": upstream_url for s in ("cases", "notes", "documents", "notifications")}
    return create_app(
        Settings(**urls, internal_secret=SECRET, **overrides), authenticate=accept_all
    )


@pytest.fixture
async def rig():
    store, upstream = Store(), Upstream()
    async with serving(store.app()) as store_url, serving(upstream.app()) as up:
        upstream.url = f"{store_url}/bucket/k?X-Amz-Signature=abc%2Fdef"
        async with serving(gateway_for(up)) as gw:
            yield gw, store, upstream


def gateway_only_headers(headers) -> list[str]:
    return [name for name in headers if name.lower().startswith("x-casemesh-")]


async def test_download_is_fetched_and_sent_with_the_services_headers(rig, http):
    gw, store, upstream = rig
    async with http.get(gw + PM, headers=AUTH) as r:
        assert r.status == 200
        assert await r.read() == DATA
        assert r.headers["Content-Length"] == str(len(DATA))
        assert r.headers["ETag"] == '"etag"' and r.headers["Content-Type"] == "application/x-bin"
        assert gateway_only_headers(r.headers) == []
    assert upstream.seen[0]["headers"][OFFER_HEADER] == "1"
    # The URL exactly as the service gave it (the signature covers the query).
    assert store.hits[0]["path"] == "/bucket/k?X-Amz-Signature=abc%2Fdef"
    assert store.hits[0]["headers"]["Range"] == f"bytes=0-{len(DATA) - 1}"
    async with http.get(f"{gw}/metrics") as r:
        metrics = await r.text()
    assert 'casemesh_gateway_direct_fetches_total{outcome="streamed"} 1.0' in metrics
    assert f"casemesh_gateway_direct_fetch_bytes_total {float(len(DATA))}" in metrics


async def test_a_range_is_fetched_as_the_service_says(rig, http):
    gw, store, upstream = rig
    upstream.fetch_range = "1000-1999"
    async with http.get(gw + HIVE, headers={**AUTH, "Range": "bytes=1000-1999"}) as r:
        assert r.status == 206
        assert await r.read() == DATA[1000:2000]
        assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(DATA)}"
    assert store.hits[0]["headers"]["Range"] == "bytes=1000-1999"


@pytest.mark.parametrize(
    ("mode", "status", "outcome"),
    [("missing", 404, "missing"), ("failing", 503, "unavailable"), ("expired", 502, "refused"),
     ("short", 502, "refused")],
)  # fmt: skip
async def test_store_failures_answer_in_the_routes_shape(rig, http, mode, status, outcome):
    gw, store, _ = rig
    store.mode = mode
    async with http.get(gw + PM, headers=AUTH) as r:
        assert r.status == status
        body = await r.json()
        assert body["error"]["code"] == status  # ProcessMaker's shape
        assert gateway_only_headers(r.headers) == []
        if status == 503:
            assert r.headers["Retry-After"] == "5"
    async with http.get(gw + HIVE, headers=AUTH) as r:
        assert r.status == status
        assert set(await r.json()) == {"type", "message"}  # TheHive's shape
    async with http.get(f"{gw}/metrics") as r:
        assert f'casemesh_gateway_direct_fetches_total{{outcome="{outcome}"}} 2.0' in await r.text()


async def test_object_store_down_is_503(http):
    upstream = Upstream(url="http://127.0.0.1:9/bucket/k")  # discard port: nothing listens
    async with serving(upstream.app()) as up, serving(gateway_for(up)) as gw:
        async with http.get(gw + PM, headers=AUTH) as r:
            assert r.status == 503
            body = await r.json()
            assert body == {
                "error": {
                    "code": 503,
                    "message": "Service Unavailable: the object store is unavailable",
                }
            }


async def test_a_fetch_that_breaks_midway_cuts_the_connection(rig, http):
    gw, store, _ = rig
    store.mode = "breaks"
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(gw + PM, headers=AUTH) as r:
            assert r.status == 200  # the answer had started
            await r.read()


async def test_clients_cannot_offer_or_name_a_url(rig, http):
    gw, store, upstream = rig
    forged = {OFFER_HEADER: "forged", URL_HEADER: "http://127.0.0.1:1/elsewhere"}
    # Not a GET: the gateway offers nothing, so a fetch URL in the answer is not followed.
    async with http.post(gw + PM, headers={**AUTH, **forged}, data=b"x") as r:
        assert r.status == 502
        assert gateway_only_headers(r.headers) == []
    assert store.hits == []
    headers = upstream.seen[-1]["headers"]
    assert OFFER_HEADER not in headers and URL_HEADER not in headers
    # A GET: the service gets the gateway's own offer, never the client's headers.
    async with http.get(gw + PM, headers={**AUTH, **forged}) as r:
        assert r.status == 200 and await r.read() == DATA
    headers = upstream.seen[-1]["headers"]
    assert headers[OFFER_HEADER] == "1" and URL_HEADER not in headers
    assert len(store.hits) == 1


async def test_only_the_documents_service_may_hand_over(rig, http):
    gw, store, upstream = rig
    async with http.get(gw + CASES, headers=AUTH) as r:
        assert r.status == 502
        assert gateway_only_headers(r.headers) == []
    assert OFFER_HEADER not in upstream.seen[-1]["headers"]
    assert store.hits == []


@pytest.mark.parametrize(
    ("url", "fetch_range"),
    [("file:///etc/passwd", "0-9"), ("{store}", "9-0"), ("{store}", "0-"), ("{store}", "x")],
)
async def test_a_url_or_range_the_gateway_cannot_follow_is_502(rig, http, url, fetch_range):
    gw, store, upstream = rig
    upstream.url = url.format(store=upstream.url)
    upstream.fetch_range = fetch_range
    async with http.get(gw + PM, headers=AUTH) as r:
        assert r.status == 502
        assert (await r.json())["error"]["code"] == 502
    assert store.hits == []


async def test_turned_off_the_gateway_offers_nothing(http):
    upstream = Upstream()
    async with serving(upstream.app()) as up:
        async with serving(gateway_for(up, direct_downloads=False)) as gw:
            async with http.get(gw + PM, headers=AUTH) as r:
                assert r.status == 502  # the stand-in hands over anyway: not followed
    assert OFFER_HEADER not in upstream.seen[0]["headers"]
