"""The platform on its production parts: RabbitMQ, S3 (SeaweedFS), SMTP (aiosmtpd).

Each service runs as its own app with its own broker connection, as `casemesh
serve` would; only the database is SQLite (no MongoDB server exists here).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from casemesh.processes import app_factory
from casemesh.runtime import Runtime
from casemesh.settings import SERVICE_NAMES, Settings
from casemesh.web.keys import RUNTIME
from tests.e2e.flows import ADMIN_PASSWORD, login, send_ping, wait_answers, wait_ready
from tests.fixtures.rabbitmq import delete_topology, rabbitmqctl
from tests.fixtures.web import serving

pytestmark = [pytest.mark.rabbitmq, pytest.mark.s3, pytest.mark.smtp]


@dataclass
class Deployment:
    gateway: str
    runtimes: dict[str, Runtime]


@pytest.fixture
async def deployment(tmp_path, amqp_url, s3_server, smtp) -> AsyncIterator[Deployment]:
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        mode="production",
        store_backend="sqlite",
        data_dir=tmp_path,
        amqp_url=amqp_url,
        amqp_exchange=f"e2e.{tag}.events",
        amqp_queue_prefix=f"e2e.{tag}.",
        bus_retry_delays=(0.2, 0.5),
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=f"e2e-{tag}",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        internal_secret=uuid.uuid4().hex,
        admin_password=ADMIN_PASSWORD,
    )
    runtimes: dict[str, Runtime] = {}
    queues: set[str] = set()
    async with AsyncExitStack() as stack:
        urls = {}
        for name in SERVICE_NAMES:
            app = app_factory(name)(settings)
            runtimes[name] = app[RUNTIME]
            urls[f"{name}_url"] = await stack.enter_async_context(serving(app))
        gateway = await stack.enter_async_context(
            serving(app_factory("gateway")(settings.model_copy(update=urls)))
        )
        try:
            yield Deployment(gateway, runtimes)
        finally:
            for runtime in runtimes.values():
                queues |= runtime.bus.declared_queues
    await delete_topology(amqp_url, settings.amqp_exchange, frozenset(queues))


async def test_round_trip_over_rabbitmq_with_every_real_part_ready(deployment, http):
    ready = await wait_ready(http, deployment.gateway)
    services = ready["services"]
    assert services["documents"]["checks"]["object_store"] == "ok"
    assert services["notifications"]["checks"]["smtp"] == "ok"
    request_id = f"prod-{uuid.uuid4().hex}"
    auth = await login(http, deployment.gateway)
    ping = await send_ping(http, deployment.gateway, request_id, auth)
    answered = await wait_answers(http, deployment.gateway, ping["id"], auth)
    assert {a["correlation_id"] for a in answered["answers"].values()} == {request_id}
    assert deployment.runtimes["cases"].bus.stats.consumed == 3


@pytest.mark.slow
async def test_broker_restart_mid_flow_loses_nothing(deployment, http):
    await wait_ready(http, deployment.gateway)
    auth = await login(http, deployment.gateway)
    pings = [await send_ping(http, deployment.gateway, f"before-{i}", auth) for i in range(10)]
    await rabbitmqctl("stop_app")
    try:
        # Writes keep working while the broker is down: events wait in the outbox.
        pings += [await send_ping(http, deployment.gateway, f"during-{i}", auth) for i in range(10)]
        async with http.get(f"{deployment.gateway}/readyz") as r:
            assert r.status == 503
    finally:
        await rabbitmqctl("start_app")
    pings += [await send_ping(http, deployment.gateway, f"after-{i}", auth) for i in range(10)]
    for ping in pings:
        answered = await wait_answers(http, deployment.gateway, ping["id"], auth, timeout=60)
        assert set(answered["answers"]) == {"notes", "documents", "notifications"}
    await wait_ready(http, deployment.gateway)
    # Every service handled each event exactly once; redeliveries were dropped.
    for name in ("notes", "documents", "notifications"):
        assert deployment.runtimes[name].bus.stats.consumed == len(pings)
    await asyncio.sleep(0.5)
    assert deployment.runtimes["cases"].bus.stats.consumed == 3 * len(pings)
