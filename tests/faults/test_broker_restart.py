"""RabbitMQ restarted while ProcessMaker notes (send_mail=1) and case routings flow.

Five ``casemesh serve`` processes on RabbitMQ, SeaweedFS and aiosmtpd. Two
clients drive cases through the gateway without pause (start, route, note
with send_mail, route, note, route to the end: 8 e-mails per case) while the
broker is stopped with ``rabbitmqctl stop_app`` and started again. Nobody
restarts a service. Counted afterwards: every e-mail at the SMTP server by
(recipient, kind, case, note), every case transition in the notes service's
timeline (it consumes ``case.#``), pings answered by all three other
services, and the services' bus counters (no dead letters).

Other test runs may share this broker: the outage is kept to a few seconds
and the broker is always started again in ``finally``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.e2e.flows import login, send_ping, wait_answers, wait_ready
from tests.faults import workflow
from tests.faults.platform import bus_counters
from tests.fixtures.rabbitmq import rabbitmqctl

pytestmark = [pytest.mark.rabbitmq, pytest.mark.s3, pytest.mark.smtp, pytest.mark.slow]

CLIENTS = 2
PAUSE = 0.3  # seconds between one client's cases
OUTAGE = 3.0  # seconds the broker stays stopped (plus what start_app itself takes)


async def test_broker_restart_while_notes_and_routings_flow(platform, smtp, http):
    gateway = platform.gateway
    driver = workflow.Driver(http, gateway, platform.actors)
    done = asyncio.Event()
    phase = {"now": "before"}
    cases_by_phase: Counter[str] = Counter()
    arrivals: list[tuple[float, int]] = []  # (time, e-mails received so far)

    async def client() -> None:
        while not done.is_set():
            started_in = phase["now"]
            await driver.run_case()
            cases_by_phase[started_in] += 1
            await asyncio.sleep(PAUSE)

    async def sample() -> None:
        while True:
            arrivals.append((time.monotonic(), len(smtp.messages)))
            await asyncio.sleep(0.1)

    auth = await login(http, gateway)
    sampler = asyncio.create_task(sample())
    try:
        clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
        pings = []
        try:
            await asyncio.sleep(2.0)
            phase["now"] = "outage"
            t_stop = time.monotonic()
            await rabbitmqctl("stop_app")
            try:
                stopped = time.monotonic()
                async with http.get(f"{gateway}/readyz") as r:
                    assert r.status == 503  # the outage is seen, and said
                    report = await r.json()
                assert report["services"]["notes"]["checks"]["bus"] != "ok", report
                pings.append(await send_ping(http, gateway, "during-outage", auth))
                await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
            finally:
                t_start = time.monotonic()
                await rabbitmqctl("start_app")
            started = time.monotonic()
            phase["now"] = "after"
            await wait_ready(http, gateway, timeout=60)
            recovery = time.monotonic() - started
            pings.append(await send_ping(http, gateway, "after-restart", auth))
            await asyncio.sleep(3.0)
        finally:
            done.set()
            results = await asyncio.gather(*clients, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures
        await driver.wait_for_mails(smtp)
    finally:
        sampler.cancel()
    total = len(smtp.messages)
    drained = next(t for t, n in arrivals if n == total) - started
    at_start = next(n for t, n in arrivals if t >= started)
    flowing = next(t for t, n in arrivals if t >= started and n > at_start) - started

    expected = driver.expected
    once, lost, duplicated = driver.mail_tally(smtp)
    assert (lost, duplicated) == (0, 0)
    assert once == sum(expected.mails.values()) == 8 * len(expected.cases)
    assert cases_by_phase["outage"] >= 1  # cases really flowed while the broker was down
    assert set(driver.statuses) == {200}, driver.statuses  # no caller saw an error

    # Every case event reached the notes service once (its timeline projects case.#).
    for app_uid in expected.cases:
        url = f"{gateway}/casemesh/v1/timeline/{app_uid}?kind=transition&per_page=50"
        status, body = await workflow.call(http, "GET", url, auth)
        assert status == 200, body
        assert [e["event_type"] for e in body["entries"]] == workflow.TRANSITIONS, app_uid

    # Every service consumes and publishes again: pings sent during and after the outage.
    for ping in pings:
        await wait_answers(http, gateway, ping["id"], auth, timeout=30)
    counters = await bus_counters(http, platform.launch)
    assert all(c["dead_lettered"] == 0 for c in counters.values()), counters

    print(
        f"\nbroker restart: stop_app took {stopped - t_stop:.1f}s, then the broker was down "
        f"{started - stopped:.1f}s (start_app took {started - t_start:.1f}s of it); "
        f"gateway /readyz 200 again {recovery:.1f}s after start_app returned, e-mails "
        f"flowing again after {flowing:.1f}s, the last one in after {drained:.1f}s. "
        f"Cases: {dict(cases_by_phase)} ({len(expected.cases)} in all, "
        f"{sum(driver.statuses.values())} HTTP calls, all 200); e-mails expected "
        f"{sum(expected.mails.values())}, once {once}, lost {lost}, duplicated {duplicated}; "
        f"redeliveries dropped by dedup { {k: int(v['duplicates']) for k, v in counters.items()} }"
        f"; consumed { {k: int(v['consumed']) for k, v in counters.items()} }"
    )
