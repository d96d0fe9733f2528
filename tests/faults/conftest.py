"""The fault suite's platform: five ``casemesh serve`` processes on RabbitMQ, S3 and SMTP.

One platform per test module (starting five processes costs ~10 s on two
cores); every test leaves it healthy again, restarting in ``finally`` what it
broke. ``smtp`` (function scope) empties the session's SMTP server first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.e2e.flows import wait_ready
from tests.faults import workflow
from tests.faults.platform import Launch, launched


@dataclass
class Platform:
    launch: Launch
    actors: workflow.Actors

    @property
    def gateway(self) -> str:
        return self.launch.gateway


@pytest.fixture(scope="module")
async def platform(tmp_path_factory, amqp_url, s3_server, smtp_server) -> AsyncIterator[Platform]:
    data_dir = tmp_path_factory.mktemp("faults")
    async with launched(data_dir, amqp_url, s3=s3_server, smtp=smtp_server) as launch:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, launch.gateway)
            actors = await workflow.setup(http, launch.gateway)
        yield Platform(launch, actors)
