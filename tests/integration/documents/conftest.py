"""The documents service and a real cases service, each on a real port, sharing one bus.

The object store is a parameter: the filesystem adapter, and a real SeaweedFS
S3 server (``s3_server``). A process "Documents test" is created through the
cases API: Request (admin) -> Review (bob) -> END, with an input document
definition (versioned), one without versioning and a small size cap, and an
output document. Identities are signed headers, as the gateway sends them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from multidict import CIMultiDict

from casemesh.bus.memory import InProcessBus
from casemesh.events import Envelope
from casemesh.identity import PM_CASES, Identity, identity_headers
from casemesh.objects.filesystem import FilesystemObjectStore
from casemesh.objects.s3 import S3ObjectStore
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.keys import RUNTIME
from services.cases.app import create_app as create_cases_app
from services.documents.app import create_app as create_documents_app
from tests.fixtures.web import serving
from tests.integration.cases.conftest import EXAMPLES, SECRET, admin, create_testers

PROCESS = "d6000000000000000000000000000000"
TASK_REQUEST = "d6000000000000000000000000000001"
TASK_REVIEW = "d6000000000000000000000000000002"
INPUT_DOC = "d6100000000000000000000000000001"
INPUT_FLAT = "d6100000000000000000000000000002"
OUTPUT_DOC = "d6200000000000000000000000000001"
OUTPUT_BOTH = "d6200000000000000000000000000002"
SMALL_CAP = 64 * 1024
WORKSPACE_LIMIT = 1024 * 1024
TEMPLATE = (
    "<h1>Invoice for @@client</h1><p>Amount: @#amount</p><p>Note: @@note</p>"
    "<table>@>items<tr><td>@@name</td><td>@#price</td></tr>@<items</table>"
)


@dataclass
class World:
    cases_url: str
    url: str
    http: aiohttp.ClientSession
    events: list[Envelope]
    objects: object
    app_store: DocumentStore
    settings: Settings
    users: dict[str, str] = field(default_factory=dict)

    async def object_count(self) -> int:
        """Objects in the store, counted behind the adapter's back."""
        if isinstance(self.objects, FilesystemObjectStore):
            return len(list(self.objects.root.rglob("*~data")))
        client = self.objects._client  # the adapter's own minio client
        bucket = self.objects.bucket
        return await asyncio.to_thread(
            lambda: len(list(client.list_objects(bucket, recursive=True)))
        )

    def who(self, username: str, *perms: str, groups: tuple[str, ...] = (), ws="workflow"):
        if username == "admin":
            return admin(ws)
        return Identity(
            workspace=ws,
            user_uid=self.users[username],
            username=username,
            first_name=username.title(),
            last_name="Tester",
            email=f"{username}@example.com",
            permissions=frozenset(perms),
            groups=groups,
        )

    def bob(self) -> Identity:
        return self.who("bob", PM_CASES)

    async def request(
        self, method: str, path: str, who: Identity | bool | None = None, *, base="", **kw
    ) -> tuple[int, object, dict]:
        headers = dict(kw.pop("headers", {}))
        if who is not False:
            headers.update(identity_headers(who or admin(), SECRET))
        async with self.http.request(method, (base or self.url) + path, headers=headers, **kw) as r:
            raw = await r.read()
            body: object = raw
            if r.content_type == "application/json" and raw:
                body = await r.json()
            return r.status, body, CIMultiDict(r.headers)

    async def cases(self, method: str, path: str, **kw):
        status, body, _ = await self.request(
            method, f"/api/1.0/workflow{path}", base=self.cases_url, **kw
        )
        assert status in (200, 201), (method, path, status, body)
        return body

    async def start_case(self, variables: list | None = None) -> dict:
        payload = {"pro_uid": PROCESS, "tas_uid": TASK_REQUEST}
        if variables:
            payload["variables"] = variables
        return await self.cases("POST", "/cases", json=payload)

    async def upload(self, app_uid: str, data: bytes, name: str = "a.txt", who=None, **fields):
        form = aiohttp.FormData(quote_fields=False)  # names as curl and browsers send them
        form.add_field("inp_doc_uid", fields.pop("inp_doc_uid", INPUT_DOC))
        form.add_field("tas_uid", fields.pop("tas_uid", TASK_REQUEST))
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("form", data, filename=name, content_type="application/octet-stream")
        return await self.request(
            "POST", f"/api/1.0/workflow/cases/{app_uid}/input-document", who, data=form
        )

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
        "title": "Documents test",
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
        "input_documents": [
            {"uid": INPUT_DOC, "title": "Evidence"},
            {"uid": INPUT_FLAT, "title": "Small", "versioning": False, "max_file_size": SMALL_CAP},
        ],
        "output_documents": [
            {
                "uid": OUTPUT_DOC,
                "title": "Invoice",
                "filename": "invoice @@client",
                "template": TEMPLATE,
                "generate": "PDF",
                "versioning": True,
            },
            {
                "uid": OUTPUT_BOTH,
                "title": "Letter",
                "filename": "letter",
                "template": TEMPLATE,
                "generate": "BOTH",
                "versioning": False,
            },
        ],
        "supervisors": [admin_uid],
        "permissions": [
            {"object": "ANY", "action": "VIEW", "users": [admin_uid]},
            {"object": "INPUT_DOCUMENTS", "action": "VIEW", "groups": [readers]},
            {"object": "INPUT_DOCUMENTS", "action": "DELETE", "groups": [readers]},
        ],
    }


async def _wait_ready(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        async with http.get(f"{url}/readyz") as r:
            if r.status == 200:
                return
        assert time.monotonic() < deadline, f"{url} not ready"
        await asyncio.sleep(0.05)


@pytest.fixture(params=["filesystem", "s3"])
def object_backend(request) -> str:
    return request.param


def _objects(backend: str, request: pytest.FixtureRequest, tmp_path):
    if backend == "filesystem":
        return FilesystemObjectStore(tmp_path / "objects", fsync=False)
    server = request.getfixturevalue("s3_server")
    server.start()
    return S3ObjectStore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        f"docs-{uuid.uuid4().hex[:12]}",
        region=server.region,
        part_size=5 * 1024 * 1024,  # the S3 minimum: the least an upload holds in memory
    )


@pytest.fixture
async def world(request, tmp_path, object_backend) -> AsyncIterator[World]:
    common = {"mode": "embedded", "internal_secret": SECRET, "outbox_poll_interval": 0.05}
    cases_settings = Settings(
        **common,
        data_dir=tmp_path / "cases",
        admin_password="admin-test-password",
        definitions_dir=EXAMPLES,
        timer_interval=0.5,
    )
    bus = InProcessBus()
    events: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        events.append(envelope)

    await bus.subscribe("test-observer", ["#"], record)
    objects = _objects(object_backend, request, tmp_path)
    async with (
        serving(create_cases_app(cases_settings, bus=bus, owns_bus=False)) as cases_url,
        aiohttp.ClientSession() as http,
    ):
        settings = Settings(
            **common,
            data_dir=tmp_path / "documents",
            cases_url=cases_url,
            public_url="http://casemesh.test",
            documents_upload_limits={"workflow": WORKSPACE_LIMIT},
        )
        app = create_documents_app(settings, bus=bus, owns_bus=False, objects=objects)
        async with serving(app) as url:
            await _wait_ready(http, cases_url)
            await _wait_ready(http, url)
            w = World(cases_url, url, http, events, objects, app[RUNTIME].store, settings)
            w.users.update(await create_testers(w.cases))
            readers = (await w.cases("POST", "/groups", json={"grp_title": "Doc readers"}))[
                "grp_uid"
            ]
            w.users["readers"] = readers
            await w.cases("POST", "/processes", json=_definition(w.users["bob"], readers))
            yield w
    await bus.close()
    if object_backend == "s3":
        await asyncio.to_thread(_drop_bucket, request.getfixturevalue("s3_server"), objects.bucket)


def _drop_bucket(server, bucket: str) -> None:
    """Remove the test's bucket: SeaweedFS gives each bucket its own volumes, and they run out."""
    import urllib3

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=10.0))
    client = server.client(http)
    try:
        if server.running and client.bucket_exists(bucket):
            for item in client.list_objects(bucket, recursive=True):
                client.remove_object(bucket, item.object_name)
            client.remove_bucket(bucket)
    finally:
        http.clear()
