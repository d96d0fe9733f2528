"""One service down (SIGKILL) or frozen (SIGSTOP): the gateway answers in each dialect's shape.

Five ``casemesh serve`` processes on RabbitMQ, SeaweedFS and aiosmtpd; the
notes service is the victim (it serves three dialects: ProcessMaker notes,
TheHive task logs, Trackops updates, and consumes every case event).

- Down: its routes answer 502 at once, in their dialect's error shape; the
  cases service keeps serving (cases are started and routed to the end);
  restarted, the notes service consumes the case events published while it
  was down (its timeline shows them) and serves again. The documents service
  is then killed briefly for the fourth dialect, Kibana's.
- Frozen: its routes answer 504 after the gateway's upstream read timeout
  (3 s in these launches), in their dialect's shape, while the other routes
  answer as fast as ever; thawed, it serves again at once.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import time

import pytest

from tests.e2e.flows import wait_ready
from tests.faults import workflow
from tests.faults.platform import UPSTREAM_READ_TIMEOUT, queue_depth

pytestmark = [pytest.mark.rabbitmq, pytest.mark.s3, pytest.mark.smtp, pytest.mark.slow]

DOWN = 5.0  # seconds the notes service stays down


async def timed(http, method: str, url: str, who: workflow.User, **kw):
    t0 = time.monotonic()
    status, body = await workflow.call(http, method, url, who.auth, **kw)
    return status, body, time.monotonic() - t0


async def notes_routes(http, gateway: str, admin: workflow.User, app_uid: str, task_id: str):
    """The same outage seen through the three dialects the notes service serves."""
    return await asyncio.gather(
        timed(http, "GET", f"{gateway}/api/1.0/workflow/cases/{app_uid}/notes", admin),
        timed(http, "GET", f"{gateway}/api/case/task/{task_id}/log", admin),
        timed(http, "GET", f"{gateway}/api/v1/case/updates", admin),
    )


async def current_task(http, gateway: str, who: workflow.User, app_uid: str) -> str:
    url = f"{gateway}/api/1.0/workflow/cases/{app_uid}/current-task"
    status, body = await workflow.call(http, "GET", url, who.auth)
    assert status == 200, body
    return body[0]["delegation_id"]


def assert_shapes(answers, status: int, reason: str, what: str) -> None:
    pm_status, pm_body, _ = answers[0]
    assert pm_status == status, pm_body
    assert pm_body == {"error": {"code": status, "message": f"{reason}: {what}"}}
    hive_status, hive_body, _ = answers[1]
    assert hive_status == status, hive_body
    assert hive_body == {"type": reason.replace(" ", ""), "message": what}
    track_status, track_body, _ = answers[2]
    assert track_status == status, track_body
    assert track_body == {"status": status, "error": reason, "message": what}


async def test_a_service_down_then_restarted(platform, smtp, http):
    gateway, actors, launch = platform.gateway, platform.actors, platform.launch
    admin = actors.admin
    driver = workflow.Driver(http, gateway, actors)
    app_uid = await driver.start()
    task_id = await current_task(http, gateway, admin, app_uid)
    await driver.route(app_uid, admin)

    launch.kill("notes")
    down_at = time.monotonic()
    try:
        answers = await notes_routes(http, gateway, admin, app_uid, task_id)
        assert_shapes(answers, 502, "Bad Gateway", "the notes service cannot be reached")
        refused_in = max(took for _, _, took in answers)
        assert refused_in < 1.0, answers  # at once, not after a timeout
        async with http.get(f"{gateway}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["services"]["notes"]["status"] == "unreachable"
        # Everything else keeps serving; these cases' events wait in the notes queue.
        await driver.route(app_uid, actors.bob)
        await driver.route(app_uid, actors.carol)
        while_down = [app_uid]
        for _ in range(3):
            other = await driver.start()
            for who in (admin, actors.bob, actors.carol):
                await driver.route(other, who)
            while_down.append(other)
        assert set(driver.statuses) == {200}, driver.statuses
        await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - down_at)))
        waiting = await queue_depth(launch, "notes")
        # At least: the first case's last 4 transitions and every other case's 8.
        assert waiting >= 4 + 8 * (len(while_down) - 1), waiting
    finally:
        restarted = time.monotonic()
        launch.start("notes")
        await launch.wait_ready("notes")
    back_in = time.monotonic() - restarted
    await wait_ready(http, gateway)

    # The events published while it was down are consumed now, each once.
    async def timeline(case: str) -> list[str]:
        url = f"{gateway}/casemesh/v1/timeline/{case}?kind=transition&per_page=50"
        status, body = await workflow.call(http, "GET", url, admin.auth)
        assert status == 200, body
        return [e["event_type"] for e in body["entries"]]

    deadline = time.monotonic() + 30
    while [await timeline(c) for c in while_down] != [workflow.TRANSITIONS] * len(while_down):
        assert time.monotonic() < deadline, [await timeline(c) for c in while_down]
        await asyncio.sleep(0.2)
    caught_up = time.monotonic() - restarted
    # It serves again, notes with send_mail included.
    last = await driver.start()
    await driver.route(last, admin)
    await driver.note(last, admin, [actors.bob])
    await driver.wait_for_mails(smtp)
    assert driver.mail_tally(smtp)[1:] == (0, 0)  # nothing lost, nothing duplicated

    # The fourth dialect, Kibana's, is the documents service's.
    launch.kill("documents")
    try:
        status, body, took = await timed(http, "GET", f"{gateway}/api/cases/{last}", admin)
    finally:
        launch.start("documents")
        await launch.wait_ready("documents")
    what = "the documents service cannot be reached"
    assert (status, body) == (502, {"statusCode": 502, "error": "Bad Gateway", "message": what})
    assert took < 1.0
    print(
        f"\nnotes service down {restarted - down_at:.1f}s: its routes refused with 502 in "
        f"{refused_in * 1000:.0f} ms (3 dialects); {len(while_down)} cases routed meanwhile; "
        f"{waiting} events waited in its queue; restarted and ready in {back_in:.1f}s; "
        f"the {len(while_down) * len(workflow.TRANSITIONS)} events published while it was down "
        f"consumed {caught_up:.1f}s after the restart "
        f"began"
    )


async def test_a_frozen_service_times_out_cleanly(platform, http):
    gateway, actors, launch = platform.gateway, platform.actors, platform.launch
    admin = actors.admin
    driver = workflow.Driver(http, gateway, actors)
    app_uid = await driver.start()
    task_id = await current_task(http, gateway, admin, app_uid)
    cases_url = f"{gateway}/api/1.0/workflow/cases/{app_uid}"

    launch.signal("notes", signal.SIGSTOP)
    try:
        frozen = asyncio.ensure_future(notes_routes(http, gateway, admin, app_uid, task_id))
        fast = []
        while not frozen.done():  # the other routes, while three requests hang
            status, body, took = await timed(http, "GET", cases_url, admin)
            assert status == 200, body
            fast.append(took)
            await asyncio.sleep(0.05)
        answers = frozen.result()
        t0 = time.monotonic()
        async with http.get(f"{gateway}/readyz") as r:
            assert r.status == 503
            probe = (await r.json())["services"]["notes"]
        probe_took = time.monotonic() - t0
    finally:
        launch.signal("notes", signal.SIGCONT)
    assert_shapes(answers, 504, "Gateway Timeout", "the notes service did not answer in time")
    waited = [took for _, _, took in answers]
    assert all(UPSTREAM_READ_TIMEOUT - 0.1 < w < UPSTREAM_READ_TIMEOUT + 2.0 for w in waited)
    assert probe["status"] == "unreachable" and probe_took < 5.0, probe
    assert len(fast) >= 10 and max(fast) < 1.0, fast
    thawed = time.monotonic()
    answers = await notes_routes(http, gateway, admin, app_uid, task_id)
    assert [status for status, _, _ in answers] == [200, 200, 200], answers
    print(
        f"\nnotes frozen: 3 routes answered 504 after {min(waited):.2f}..{max(waited):.2f}s "
        f"(timeout {UPSTREAM_READ_TIMEOUT:.0f}s); meanwhile {len(fast)} cases calls answered "
        f"200 in median {statistics.median(fast) * 1000:.0f} ms, max {max(fast) * 1000:.0f} "
        f"ms; /readyz answered in {probe_took:.1f}s; thawed, served again in "
        f"{(time.monotonic() - thawed) * 1000:.0f} ms"
    )
