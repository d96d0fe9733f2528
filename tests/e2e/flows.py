"""Steps the end-to-end tests share: sign in, drive the ping round trip through the gateway."""

from __future__ import annotations

import asyncio
import time

import aiohttp

ANSWERING_SERVICES = {"notes", "documents", "notifications"}
# The administrator's password the e2e platforms are started with (settings.admin_password).
ADMIN_PASSWORD = "e2e-admin-password"
Headers = dict[str, str]


async def wait_ready(http: aiohttp.ClientSession, gateway: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        async with http.get(f"{gateway}/readyz") as r:
            body = await r.json()
            if r.status == 200:
                return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"platform not ready after {timeout}s: {body}")


async def login(
    http: aiohttp.ClientSession,
    gateway: str,
    username: str = "admin",
    password: str = ADMIN_PASSWORD,
    workspace: str = "workflow",
) -> Headers:
    """Sign in with ProcessMaker's password grant; the headers that carry the token."""
    form = {
        "grant_type": "password",
        "client_id": "casemesh",
        "client_secret": "casemesh-secret",
        "username": username,
        "password": password,
    }
    async with http.post(f"{gateway}/{workspace}/oauth2/token", data=form) as r:
        assert r.status == 200, await r.text()
        token = (await r.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def send_ping(
    http: aiohttp.ClientSession, gateway: str, request_id: str, auth: Headers
) -> dict:
    async with http.post(
        f"{gateway}/casemesh/v1/pings",
        json={"message": "hello", "workspace": "workflow"},
        headers={"X-Request-ID": request_id, **auth},
    ) as r:
        assert r.status == 201, await r.text()
        assert r.headers["X-Request-ID"] == request_id
        return await r.json()


async def wait_answers(
    http: aiohttp.ClientSession, gateway: str, ping_id: str, auth: Headers, timeout: float = 30
) -> dict:
    """Poll until every other service has answered the ping through the bus."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        async with http.get(f"{gateway}/casemesh/v1/pings/{ping_id}", headers=auth) as r:
            assert r.status == 200
            body = await r.json()
        if set(body["answers"]) == ANSWERING_SERVICES:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"ping {ping_id} answered only by {sorted(body.get('answers', {}))}")
