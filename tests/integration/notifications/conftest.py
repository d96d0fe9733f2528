"""The notifications service on real RabbitMQ and a real SMTP server (aiosmtpd).

Each test gets its own exchange and queue prefix (deleted afterwards), its
own SQLite database, and the session's aiosmtpd server, emptied.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel

from casemesh.bus.rabbitmq import RabbitMQBus
from casemesh.events import Envelope, new_envelope
from casemesh.events.cases import Person
from casemesh.identity import ALL_PERMISSIONS, Identity, identity_headers
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.web.keys import RUNTIME
from services.notifications.app import SENDER, create_app
from services.notifications.sender import Sender
from tests.fixtures.rabbitmq import delete_topology
from tests.fixtures.smtp import ReceivedMail, SmtpServer
from tests.fixtures.web import serving

pytestmark = [pytest.mark.rabbitmq, pytest.mark.smtp]

SECRET = "notifications-test-secret"
WORKSPACE = "workflow"
ADMIN = Identity(
    workspace=WORKSPACE,
    user_uid="00000000000000000000000000000001",
    username="admin",
    permissions=frozenset(ALL_PERMISSIONS),
)


def person(name: str) -> Person:
    """A user with a unique uid and an address at example.com."""
    return Person(
        usr_uid=uuid.uuid4().hex,
        username=name,
        name=name.title(),
        email=f"{name}@example.com",
    )


def identity_of(who: Person) -> Identity:
    return Identity(workspace=WORKSPACE, user_uid=who.usr_uid, username=who.username)


@dataclass
class Instance:
    url: str
    runtime: Runtime
    sender: Sender


@dataclass
class Harness:
    settings: Settings
    smtp: SmtpServer
    http: aiohttp.ClientSession
    publisher: RabbitMQBus
    instances: list[Instance] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.instances[0].url

    @property
    def runtime(self) -> Runtime:
        return self.instances[0].runtime

    async def publish(self, data: BaseModel, *, app_uid: str = "") -> Envelope:
        envelope = new_envelope(data, source="tests", workspace=WORKSPACE, subject=app_uid)
        await self.publisher.publish(envelope)
        return envelope

    async def call(
        self, method: str, path: str, who: Identity = ADMIN, **kw: Any
    ) -> tuple[int, Any]:
        headers = identity_headers(who, SECRET)
        async with self.http.request(
            method, f"{self.url}/casemesh/v1/notifications{path}", headers=headers, **kw
        ) as r:
            body = await r.json() if r.content_type == "application/json" else None
            return r.status, body

    async def deliveries(self, who: Identity = ADMIN, **query: str) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/deliveries", who, params={"limit": 200, **query})
        assert status == 200, body
        return body["data"]

    async def mails(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived; then a moment for extras."""
        await until(lambda: len(self.smtp.messages) >= count, timeout, f"{count} e-mails")
        await asyncio.sleep(0.3)  # anything sent twice would show up now
        return self.smtp.messages


async def until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def make_settings(tmp_path, amqp_url: str, smtp: SmtpServer, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "mode": "production",
        "store_backend": "sqlite",
        "data_dir": tmp_path,
        "amqp_url": amqp_url,
        "amqp_exchange": f"notif.{tag}.events",
        "amqp_queue_prefix": f"notif.{tag}.",
        "bus_retry_delays": (0.1, 0.2),
        "bus_max_attempts": 2,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_timeout": 3.0,
        "internal_secret": SECRET,
        "public_url": "https://casemesh.example",
        "mail_from": "Casemesh <noreply@casemesh.example>",
        "notifications_retry_first": 0.2,
        "notifications_retry_max": 0.5,
        "notifications_poll_interval": 0.1,
        "notifications_lease": 10.0,
    }
    return Settings(**{**values, **overrides})


async def start_instance(stack: AsyncExitStack, harness: Harness) -> Instance:
    app = create_app(harness.settings)
    url = await stack.enter_async_context(serving(app))
    instance = Instance(url, app[RUNTIME], app[SENDER])
    harness.instances.append(instance)
    deadline = time.monotonic() + 20
    while True:
        async with harness.http.get(f"{url}/readyz") as r:
            if r.status == 200:
                return instance
            report = await r.text()
        assert time.monotonic() < deadline, f"notifications service not ready: {report}"
        await asyncio.sleep(0.05)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def service(tmp_path, amqp_url, smtp, settings_overrides) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, amqp_url, smtp, **settings_overrides)
    publisher = RabbitMQBus(amqp_url, exchange=settings.amqp_exchange)
    await publisher.connect()
    queues: set[str] = set()
    async with aiohttp.ClientSession() as http:
        harness = Harness(settings, smtp, http, publisher)
        try:
            async with AsyncExitStack() as stack:
                await start_instance(stack, harness)
                harness.stack = stack  # type: ignore[attr-defined]
                yield harness
                for instance in harness.instances:
                    queues |= instance.runtime.bus.declared_queues  # type: ignore[attr-defined]
        finally:
            await publisher.close()
            await delete_topology(amqp_url, settings.amqp_exchange, frozenset(queues))
