"""Body, URL and header limits, and slow clients, through a real gateway and services.

One embedded platform with small limits: 64 KiB JSON bodies, 256 KiB
uploads (+64 KiB of multipart envelope), 2 KiB URLs, 1 KiB header lines,
a 1.5 s head timeout and body timeouts of 1 s idle / 3 s in all.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.integration.gateway.platform import (
    PROCESS,
    SIGNED_CONTRACT,
    SUBMIT,
    WS,
    address,
    case_uids,
    json_body,
    raw_exchange,
    read_response,
    running,
    sign_in,
    start_case,
    status_of,
)

KIB = 1024
LIMITS = {
    "max_body_size": 64 * KIB,
    "documents_max_upload": 256 * KIB,
    "max_url_size": 2048,
    "max_header_size": 1024,
    "max_headers_size": 8 * KIB,
    "max_headers": 40,
    "client_header_timeout": 1.5,
    "client_body_idle_timeout": 1.0,
    "client_body_timeout": 3.0,
}
UPLOAD_LIMIT = 256 * KIB + 64 * KIB
BOUNDARY = "limits-test-boundary"


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    async with running(tmp_path_factory.mktemp("limits"), **LIMITS) as running_platform:
        yield running_platform


@pytest.fixture
async def http():
    # The gateway closes idle connections after 1.5 s here: no pooling, no races.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


@pytest.fixture
async def auth(platform, http):
    return await sign_in(http, platform.gateway_url)


def stored_objects(platform) -> list:
    root = platform.settings.data_dir / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def leftover_objects(platform, timeout: float = 5) -> list:
    """Stored files still there after ``timeout``: the documents service learns that the
    gateway cut its upload only when its next read fails, after the client has its 413."""
    deadline = time.monotonic() + timeout
    while (found := stored_objects(platform)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return found


def input_document_body(size: int) -> bytes:
    """A ProcessMaker input-document upload with a ``size``-byte file, as multipart bytes."""
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("inp_doc_uid", SIGNED_CONTRACT), ("tas_uid", SUBMIT))
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="form"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode() + b"\x07" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


async def in_chunks(data: bytes, size: int = 16 * KIB):
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def test_json_bodies_over_the_limit_get_413_and_change_nothing(platform, http, auth):
    gw = platform.gateway_url
    before = await case_uids(http, gw, auth)
    big = {"pro_uid": PROCESS, "tas_uid": SUBMIT, "variables": [{"blob": "x" * 100_000}]}
    async with http.post(f"{gw}/api/1.0/{WS}/cases", json=big, headers=auth) as r:
        assert r.status == 413
        assert await r.json() == {
            "error": {
                "code": 413,
                "message": "Request Entity Too Large: the request body is too large: "
                "at most 65536 bytes on this route",
            }
        }
    # Streamed without a Content-Length: counted on the way, cut at the limit.
    data = b'{"pro_uid": "%s", "tas_uid": "%s", "x": "' % (PROCESS.encode(), SUBMIT.encode())
    data += b"y" * 100_000 + b'"}'
    headers = {**auth, "Content-Type": "application/json"}
    async with http.post(f"{gw}/api/1.0/{WS}/cases", data=in_chunks(data), headers=headers) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == 413
    # Trackops updates are Casemesh-shaped.
    update = {"casefile_id": 1, "title": "t", "body": "b" * 100_000}
    async with http.post(f"{gw}/api/v1/case/updates", json=update, headers=auth) as r:
        assert r.status == 413
        body = await r.json()
        assert body["status"] == 413 and "too large" in body["message"]
    assert await case_uids(http, gw, auth) == before
    # A body under the limit still goes through.
    await start_case(http, gw, auth)


async def test_an_upload_over_the_limit_is_refused_early_and_nothing_is_stored(
    platform, http, auth
):
    gw = platform.gateway_url
    app_uid = (await start_case(http, gw, auth))["app_uid"]
    url = f"{gw}/api/1.0/{WS}/cases/{app_uid}/input-document"
    body = input_document_body(UPLOAD_LIMIT)  # the file alone fits, the envelope does not
    headers = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with http.post(url, data=body, headers=headers) as r:  # with a Content-Length
        assert r.status == 413
        assert (await r.json())["error"]["message"].endswith(
            f"at most {UPLOAD_LIMIT} bytes on this route"
        )
    async with http.post(url, data=in_chunks(body), headers=headers) as r:  # chunked
        assert r.status == 413
    async with http.get(f"{gw}/api/1.0/{WS}/cases/{app_uid}/input-documents", headers=auth) as r:
        assert await r.json() == []
    assert await leftover_objects(platform) == []

    # Expect: 100-continue: the 413 comes instead of the go-ahead, in Kibana's shape.
    host, port = address(gw)
    head = (
        f"POST /api/cases/{app_uid}/files HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {auth['Authorization']}\r\nkbn-xsrf: true\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n"
    )
    answer = await raw_exchange(gw, head.encode())
    assert status_of(answer) == 413
    assert b'"statusCode": 413' in json_body(answer) or b'"statusCode":413' in json_body(answer)

    # Within the limit, the same upload is stored.
    small = input_document_body(1000)
    async with http.post(url, data=small, headers=headers) as r:
        assert r.status == 200, await r.text()
    assert len(stored_objects(platform)) >= 1


async def test_long_urls_and_big_headers_get_414_and_431_in_the_dialects_shape(
    platform, http, auth
):
    gw = platform.gateway_url
    long_query = "q=" + "a" * 3000
    async with http.get(f"{gw}/api/1.0/{WS}/cases?{long_query}", headers=auth) as r:
        assert r.status == 414
        assert (await r.json())["error"]["message"].startswith(
            "Request-URI Too Long: the URL is too long: 3026 bytes, at most 2048"
        )
    async with http.get(f"{gw}/api/case/task/t1/log?{long_query}", headers=auth) as r:
        assert r.status == 414
        assert (await r.json())["type"] == "Request-URITooLong"
    async with http.get(f"{gw}/api/cases/c1?{long_query}", headers=auth) as r:
        assert r.status == 414
        assert (await r.json())["statusCode"] == 414

    async with http.get(f"{gw}/api/1.0/{WS}/cases", headers={**auth, "X-Big": "b" * 1500}) as r:
        assert r.status == 431
        assert "'X-Big' is too large" in (await r.json())["error"]["message"]
    many = {f"X-Extra-{n}": "v" for n in range(45)}
    async with http.get(f"{gw}/api/cases/c1", headers={**auth, **many}) as r:
        assert r.status == 431
        body = await r.json()
        assert body["statusCode"] == 431 and "too many request headers" in body["message"]
    bulky = {f"X-Bulk-{n}": "v" * 900 for n in range(12)}
    async with http.get(f"{gw}/api/1.0/{WS}/cases", headers={**auth, **bulky}) as r:
        assert r.status == 431
        assert "in all" in (await r.json())["error"]["message"]

    # Far past the limits the HTTP parser itself refuses, without reading on.
    answer = await raw_exchange(
        gw, f"GET /healthz?{'z' * 20_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert status_of(answer) == 400
    async with http.get(f"{gw}/api/1.0/{WS}/cases", headers=auth) as r:
        assert r.status == 200


async def test_a_client_that_never_finishes_its_headers_is_cut_off(platform, http, auth):
    gw = platform.gateway_url
    reader, writer = await asyncio.open_connection(*address(gw))
    try:
        writer.write(b"GET /api/1.0/workflow/cases HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        started = time.monotonic()
        # Meanwhile everyone else is served.
        for _ in range(3):
            async with http.get(f"{gw}/api/1.0/{WS}/cases", headers=auth) as r:
                assert r.status == 200
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
        assert time.monotonic() - started < 3.5
    finally:
        writer.close()


async def trickle(gw: str, auth: dict, pause: float, stop_after: int | None = None):
    """POST a 1000-byte body one byte per ``pause`` s; (status, body, seconds until answered)."""
    reader, writer = await asyncio.open_connection(*address(gw))
    head = (
        f"POST /api/1.0/{WS}/cases HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth['Authorization']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    writer.write(head.encode())
    started = time.monotonic()

    async def send() -> None:
        sent = 0
        while stop_after is None or sent < stop_after:
            await asyncio.sleep(pause)
            writer.write(b" ")
            sent += 1

    sender = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(read_response(reader), 10)
        return status_of(answer), json_body(answer), time.monotonic() - started
    finally:
        sender.cancel()
        writer.close()


async def test_a_trickling_body_gets_408_while_other_requests_are_served(platform, http, auth):
    gw = platform.gateway_url
    slow = asyncio.create_task(trickle(gw, auth, pause=0.3))  # never idle 1 s, never done
    latencies = []
    while not slow.done():
        started = time.monotonic()
        async with http.get(f"{gw}/api/1.0/{WS}/cases", headers=auth) as r:
            assert r.status == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.2)
    status, body, elapsed = await slow
    assert status == 408
    assert b"Request Timeout: the request body arrived too slowly" in body
    assert 2.5 < elapsed < 6
    assert len(latencies) >= 5 and max(latencies) < 1.5


async def test_a_body_that_stops_gets_408_after_the_idle_timeout(platform, auth):
    status, body, elapsed = await trickle(platform.gateway_url, auth, pause=0.1, stop_after=3)
    assert status == 408 and b"at most 1 s between two pieces" in body
    assert 1.0 < elapsed < 3.0
