"""The notes service and a real cases service, each on a real port, sharing one bus.

A process "Notes test" is created through the cases API: Request (admin) ->
Review (bob) -> END, with the case-notes permission for the group "Note
readers" (carol is a member) and ANY for the admin. Identities are signed
headers, as the gateway sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from casemesh.bus.memory import InProcessBus
from casemesh.events import Envelope
from casemesh.identity import PM_CASES, Identity, identity_headers
from casemesh.internal import INTERNAL_HEADER
from casemesh.settings import Settings
from services.cases.app import create_app as create_cases_app
from services.documents.app import create_app as create_documents_app
from services.notes.app import create_app as create_notes_app
from services.notes.facts_cache import FACTS_TTL
from tests.fixtures.web import serving
from tests.integration.cases.conftest import EXAMPLES, SECRET, admin, create_testers

PROCESS = "d5000000000000000000000000000000"
TASK_REQUEST = "d5000000000000000000000000000001"
TASK_REVIEW = "d5000000000000000000000000000002"


@dataclass
class World:
    cases_url: str
    notes_url: str
    http: aiohttp.ClientSession
    events: list[Envelope]
    users: dict[str, str] = field(default_factory=dict)  # username -> usr_uid
    readers: str = ""  # grp_uid of "Note readers"
    staff: str = ""  # grp_uid of "Staff"
    documents_url: str = ""  # where TheHive attachments are stored
    notes_app: web.Application | None = None

    def who(self, username: str, *perms: str, groups: tuple[str, ...] = (), ws="workflow"):
        if username == "admin":
            return admin(ws)
        return Identity(
            workspace=ws,
            user_uid=self.users[username],
            username=username,
            email=f"{username}@example.com",
            permissions=frozenset(perms),
            groups=groups,
        )

    def carol(self) -> Identity:
        return self.who("carol", PM_CASES, groups=(self.readers, self.staff))

    async def request(
        self, method: str, path: str, who: Identity | None = None, *, base: str = "", **kw
    ) -> tuple[int, object, dict]:
        headers = dict(kw.pop("headers", {}))
        if who is not False:
            headers.update(identity_headers(who or admin(), SECRET))
        async with self.http.request(
            method, (base or self.notes_url) + path, headers=headers, **kw
        ) as r:
            text = await r.text()
            body = await r.json() if text and r.content_type == "application/json" else text
            return r.status, body, dict(r.headers)

    async def cases(self, method: str, path: str, **kw):
        status, body, _ = await self.request(
            method, f"/api/1.0/workflow{path}", base=self.cases_url, **kw
        )
        assert status in (200, 201), (method, path, status, body)
        return body

    async def start_case(self) -> dict:
        case = await self.cases(
            "POST", "/cases", json={"pro_uid": PROCESS, "tas_uid": TASK_REQUEST}
        )
        await self.cases("PUT", f"/cases/{case['app_uid']}/route-case", json={})
        return case

    async def facts(self, app_uid: str) -> dict:
        headers = {INTERNAL_HEADER: SECRET}
        async with self.http.get(
            f"{self.cases_url}/internal/v1/cases/{app_uid}", headers=headers
        ) as r:
            assert r.status == 200
            return await r.json()

    async def task_ids(self, app_uid: str) -> list[str]:
        """Delegation ids (TheHive task ids) of the case, in order."""
        return [d["delegation_id"] for d in (await self.facts(app_uid))["delegations"]]

    async def events_of(self, kind: str, count: int = 1, timeout: float = 5) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events if e.type == kind]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)


def _definition(bob: str, readers: str) -> dict:
    admin_uid = admin().user_uid
    return {
        "uid": PROCESS,
        "title": "Notes test",
        "start_tasks": [TASK_REQUEST],
        "tasks": [
            {
                "uid": TASK_REQUEST,
                "title": "Request",
                "users": [admin_uid],
                "routes": {"to": [{"task": TASK_REVIEW}]},
            },
            {
                "uid": TASK_REVIEW,
                "title": "Review",
                "users": [bob],
                "routes": {"to": [{"task": "END"}]},
            },
        ],
        "supervisors": [admin_uid],
        "permissions": [
            {"object": "ANY", "action": "VIEW", "users": [admin_uid]},
            {"object": "CASES_NOTES", "action": "VIEW", "groups": [readers]},
        ],
    }


async def _wait_ready(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        async with http.get(f"{url}/readyz") as r:
            if r.status == 200:
                return
        assert time.monotonic() < deadline, f"{url} not ready"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_world(
    tmp_path, facts_ttl: float = FACTS_TTL, cases_events: bool = True
) -> AsyncIterator[World]:
    """The world; ``facts_ttl``: how long the notes service may use a case's facts;
    without ``cases_events`` the cases service keeps its events in its outbox."""
    common = {
        "mode": "embedded",
        "internal_secret": SECRET,
        "outbox_poll_interval": 0.05,
    }
    cases_settings = Settings(
        **common,
        data_dir=tmp_path / "cases",
        admin_password="admin-test-password",
        definitions_dir=EXAMPLES,
        timer_interval=0.5,
        outbox_paused=not cases_events,
    )
    bus = InProcessBus()
    events: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        events.append(envelope)

    await bus.subscribe("test-observer", ["#"], record)
    try:
        async with (
            serving(create_cases_app(cases_settings, bus=bus, owns_bus=False)) as cases_url,
            aiohttp.ClientSession() as http,
        ):
            documents_settings = Settings(
                **common, data_dir=tmp_path / "documents", cases_url=cases_url
            )
            documents_app = create_documents_app(documents_settings, bus=bus, owns_bus=False)
            async with serving(documents_app) as documents_url:
                notes_settings = Settings(
                    **common,
                    data_dir=tmp_path / "notes",
                    cases_url=cases_url,
                    documents_url=documents_url,
                )
                notes_app = create_notes_app(
                    notes_settings, bus=bus, owns_bus=False, facts_ttl=facts_ttl
                )
                async with serving(notes_app) as notes_url:
                    await _wait_ready(http, cases_url)
                    await _wait_ready(http, notes_url)
                    await _wait_ready(http, documents_url)
                    w = World(
                        cases_url,
                        notes_url,
                        http,
                        events,
                        documents_url=documents_url,
                        notes_app=notes_app,
                    )
                    w.users.update(await create_testers(w.cases))
                    w.readers = (
                        await w.cases("POST", "/groups", json={"grp_title": "Note readers"})
                    )["grp_uid"]
                    w.staff = (await w.cases("POST", "/groups", json={"grp_title": "Staff"}))[
                        "grp_uid"
                    ]
                    await w.cases("POST", "/processes", json=_definition(w.users["bob"], w.readers))
                    yield w
    finally:
        await bus.close()


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as w:
        yield w
