"""The cases service on a real port, with the example processes loaded and an admin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from casemesh.bus.memory import InProcessBus
from casemesh.events import Envelope
from casemesh.identity import ALL_PERMISSIONS, Identity, identity_headers
from casemesh.settings import Settings
from services.cases.app import create_app
from tests.fixtures.web import serving

SECRET = "test-internal-secret"
ADMIN_UID = "00000000000000000000000000000001"
EXAMPLES = Path(__file__).parents[3] / "services" / "cases" / "definitions" / "examples"
SEQUENTIAL = "a1000000000000000000000000000000"
REQUEST, REVIEW, DIRECTOR, PAYMENT = (f"a100000000000000000000000000000{i}" for i in range(1, 5))


@dataclass
class CasesApi:
    url: str
    http: aiohttp.ClientSession
    events: list[Envelope]
    workspace: str = "workflow"

    def headers(self, who: Identity | None = None) -> dict[str, str]:
        return identity_headers(who or admin(), SECRET)

    async def call(self, method: str, path: str, who: Identity | None = None, **kw):
        async with self.http.request(
            method, f"{self.url}/api/1.0/{self.workspace}{path}", headers=self.headers(who), **kw
        ) as r:
            text = await r.text()
            body = None
            if text and r.content_type == "application/json":
                body = await r.json()
            return r.status, body

    async def events_of(self, kind: str, count: int = 1, timeout: float = 5) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events if e.type == kind]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)


async def create_testers(
    post: Callable[..., Awaitable[dict]], names: tuple[str, ...] = ("bob", "carol", "dave")
) -> dict[str, str]:
    """Directory users named ``names`` made through ``post`` (a POST to the cases API);
    their uids by name."""
    uids = {}
    for name in names:
        user = await post(
            "POST",
            "/users",
            json={
                "usr_username": name,
                "usr_firstname": name.title(),
                "usr_lastname": "Tester",
                "usr_email": f"{name}@example.com",
                "usr_new_pass": "a-long-enough-password-1",
            },
        )
        uids[name] = user["usr_uid"]
    return uids


def admin(workspace: str = "workflow") -> Identity:
    return Identity(
        workspace=workspace,
        user_uid=ADMIN_UID,
        username="admin",
        first_name="Administrator",
        permissions=frozenset(ALL_PERMISSIONS),
    )


def person(uid: str, username: str, *perms: str, workspace: str = "workflow") -> Identity:
    return Identity(
        workspace=workspace, user_uid=uid, username=username, permissions=frozenset(perms)
    )


@pytest.fixture
async def cases_api(tmp_path) -> AsyncIterator[CasesApi]:
    settings = Settings(
        mode="embedded",
        data_dir=tmp_path,
        internal_secret=SECRET,
        admin_password="admin-test-password",
        definitions_dir=EXAMPLES,
        timer_interval=0.1,
    )
    bus = InProcessBus()
    events: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        events.append(envelope)

    await bus.subscribe("test-observer", ["case.#"], record)
    async with (
        serving(create_app(settings, bus=bus, owns_bus=False)) as url,
        aiohttp.ClientSession() as http,
    ):
        deadline = time.monotonic() + 20
        while True:
            async with http.get(f"{url}/readyz") as r:
                if r.status == 200:
                    break
            assert time.monotonic() < deadline, "cases service not ready"
            await asyncio.sleep(0.05)
        yield CasesApi(url, http, events)
    await bus.close()
