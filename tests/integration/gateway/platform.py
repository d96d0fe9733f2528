"""The embedded platform the gateway's limit tests run against, and the steps they share.

Everything is real: ``tests.fixtures.embedded`` runs the gateway in
front of the four services on loopback ports, with the settings each test
module needs. Raw sockets stand in for clients that misbehave below HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from casemesh.embedded import Platform
from tests.e2e.flows import login
from tests.fixtures.embedded import embedded_platform

PASSWORD = "gateway-limits-admin"
# The contract-review example: admin starts it at SUBMIT, which takes the input
# document SIGNED_CONTRACT.
PROCESS, SUBMIT = "b2000000000000000000000000000000", "b2000000000000000000000000000001"
SIGNED_CONTRACT = "b2d00000000000000000000000000001"
# The sequential-approval example, whose notes admin may read.
APPROVAL = ("a1000000000000000000000000000000", "a1000000000000000000000000000001")
WS = "workflow"


@asynccontextmanager
async def running(data_dir: Path, **overrides: object) -> AsyncIterator[Platform]:
    async with embedded_platform(data_dir, admin_password=PASSWORD, **overrides) as platform:
        yield platform


async def sign_in(http: aiohttp.ClientSession, gateway: str, **kw: str) -> dict[str, str]:
    return await login(http, gateway, password=kw.pop("password", PASSWORD), **kw)


async def start_case(
    http: aiohttp.ClientSession,
    gateway: str,
    auth: dict[str, str],
    process: tuple[str, str] = (PROCESS, SUBMIT),
) -> dict:
    body = {"pro_uid": process[0], "tas_uid": process[1]}
    async with http.post(f"{gateway}/api/1.0/{WS}/cases", json=body, headers=auth) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def case_uids(http: aiohttp.ClientSession, gateway: str, auth: dict[str, str]) -> set[str]:
    """Every case the caller can see in the workspace."""
    url = f"{gateway}/api/1.0/{WS}/cases/advanced-search/paged?limit=1000"
    async with http.get(url, headers=auth) as r:
        assert r.status == 200, await r.text()
        return {c["app_uid"] for c in (await r.json())["data"]}


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def raw_exchange(url: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection; the first response (head and body) it gets."""
    reader, writer = await asyncio.open_connection(*address(url))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def status_of(answer: bytes) -> int:
    """The status code of the first response in a raw answer."""
    line = answer.split(b"\r\n", 1)[0]
    assert line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:200]
    return int(line.split()[1])


def json_body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]
