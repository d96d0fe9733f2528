"""SMTP and the object store down for a minute, at the same time, while people keep working.

Five ``casemesh serve`` processes on RabbitMQ, SeaweedFS and aiosmtpd. Both
outages run concurrently to save CI time: aiosmtpd is stopped and SeaweedFS
is killed for ``DOWN`` seconds. Meanwhile, every few seconds, a whole case
runs through the gateway (notes with send_mail, routings: the callers must
get their 200s, the e-mails wait), an upload is tried (a caller is waiting:
a quick 503 that says why) and the case's documents are listed (metadata
reads keep working). Afterwards: every e-mail arrives exactly once, uploads
work again, and the documents and the bucket hold exactly the uploads that
succeeded (no metadata without its file, no file without its metadata).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import urllib3

from tests.e2e.flows import wait_ready
from tests.faults import workflow

pytestmark = [pytest.mark.rabbitmq, pytest.mark.s3, pytest.mark.smtp, pytest.mark.slow]

DOWN = 60.0  # seconds both servers stay down
EVERY = 4.0  # seconds between rounds of work during the outage


async def upload(http, gateway: str, who: workflow.User, app_uid: str, data: bytes):
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("inp_doc_uid", workflow.INPUT_DOC)
    form.add_field("tas_uid", workflow.INTAKE)
    form.add_field("form", data, filename="evidence.txt", content_type="text/plain")
    url = f"{gateway}/api/1.0/workflow/cases/{app_uid}/input-document"
    t0 = time.monotonic()
    status, body = await workflow.call(http, "POST", url, who.auth, data=form)
    return status, body, time.monotonic() - t0


def version(doc: dict) -> tuple[str, str]:
    return doc["app_doc_uid"], doc["app_doc_version"]


async def documents(http, gateway: str, who: workflow.User, app_uid: str) -> list[dict]:
    url = f"{gateway}/api/1.0/workflow/cases/{app_uid}/input-documents"
    status, body = await workflow.call(http, "GET", url, who.auth)
    assert status == 200, body
    return body


def bucket_objects(s3_server, bucket: str) -> int:
    pool = urllib3.PoolManager()
    try:
        return len(list(s3_server.client(pool).list_objects(bucket, recursive=True)))
    finally:
        pool.clear()


async def test_smtp_and_object_store_down_for_a_minute(platform, smtp, s3_server, http):
    gateway, admin = platform.gateway, platform.actors.admin
    driver = workflow.Driver(http, gateway, platform.actors)
    bucket = platform.launch.env["CASEMESH_S3_BUCKET"]
    files = await driver.start()  # stays at Intake: admin uploads its evidence there
    status, first, _ = await upload(http, gateway, admin, files, b"before the outage")
    assert status == 200, first
    stored = {version(first): b"before the outage"}

    smtp.stop()
    await asyncio.to_thread(s3_server.stop, 0)  # killed: SeaweedFS drains slowly otherwise
    down_at = time.monotonic()
    refusals: list[float] = []
    try:
        async with http.get(f"{gateway}/readyz") as r:
            assert r.status == 503
            checks = {k: v["checks"] for k, v in (await r.json())["services"].items()}
        assert checks["notifications"]["smtp"] != "ok" and checks["cases"]["bus"] == "ok"
        assert checks["documents"]["object_store"] != "ok"
        while time.monotonic() - down_at < DOWN - EVERY:
            round_started = time.monotonic()
            await driver.run_case()  # every call answers 200: the e-mails wait
            status, body, took = await upload(http, gateway, admin, files, b"during")
            assert status == 503, body  # a caller is waiting: told at once, and why
            assert "object store is unavailable" in body["error"]["message"], body
            refusals.append(took)
            listed = await documents(http, gateway, admin, files)
            assert set(map(version, listed)) == set(stored)  # reads keep working
            await asyncio.sleep(max(0.0, EVERY - (time.monotonic() - round_started)))
        during = workflow.count_mails(smtp.messages, driver.expected.cases[1:])
        assert sum(during.values()) == 0  # SMTP is down: nothing could have been sent
        queued = await deliveries(http, gateway, admin, "queued")
        retried = [d for d in queued if d["attempts"] >= 2 and d["last_error"]]
        await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - down_at)))
    except BaseException:
        smtp.start()
        await asyncio.to_thread(s3_server.start)
        raise
    outage = time.monotonic() - down_at
    smtp.start()
    smtp_back = time.monotonic()
    s3_restart = asyncio.ensure_future(asyncio.to_thread(s3_server.start))
    try:
        mails_after = await driver.wait_for_mails(smtp)  # while SeaweedFS starts
    finally:
        await s3_restart
    s3_back = time.monotonic()
    once, lost, duplicated = driver.mail_tally(smtp)
    assert (lost, duplicated) == (0, 0)
    assert once == 1 + 8 * (len(driver.expected.cases) - 1)
    assert set(driver.statuses) == {200}, driver.statuses
    # Retries where nobody waits: by the end every delivery had failed several times.
    assert len(retried) >= 8, retried

    # Uploads work again as soon as the documents service reaches the store.
    t0 = time.monotonic()
    while True:
        status, doc, _ = await upload(http, gateway, admin, files, b"after the outage")
        if status == 200:
            break
        assert status == 503 and time.monotonic() - t0 < 30, doc
        await asyncio.sleep(0.2)
    uploads_back = time.monotonic() - s3_back
    stored[version(doc)] = b"after the outage"
    # No orphan metadata: the refused uploads made no version (this one is the 2nd),
    # and the bucket holds one object per version, no more.
    [latest] = await documents(http, gateway, admin, files)
    assert version(latest) == (first["app_doc_uid"], "2") == version(doc)
    link = latest["app_doc_link"].split("/api/1.0/", 1)[1]
    async with http.get(f"{gateway}/api/1.0/{link}", headers=admin.auth) as r:
        assert r.status == 200 and await r.read() == b"after the outage"
    assert await asyncio.to_thread(bucket_objects, s3_server, bucket) == len(stored)
    await wait_ready(http, gateway)
    print(
        f"\nSMTP and object store down {outage:.1f}s: {len(driver.expected.cases) - 1} cases "
        f"run meanwhile ({sum(driver.statuses.values())} calls, all 200); "
        f"{len(refusals)} uploads refused with 503 in {min(refusals) * 1000:.0f}.."
        f"{max(refusals) * 1000:.0f} ms; {len(retried)} deliveries retried while down; "
        f"every e-mail in {mails_after:.1f}s after SMTP came back "
        f"(expected {once + lost}, once {once}, lost {lost}, duplicated {duplicated}); "
        f"SeaweedFS restart took {s3_back - smtp_back:.1f}s, uploads worked "
        f"{uploads_back:.1f}s after it; {len(stored)} document versions = {len(stored)} objects"
    )


async def deliveries(http, gateway: str, who: workflow.User, status: str) -> list[dict]:
    url = f"{gateway}/casemesh/v1/notifications/deliveries?status={status}&limit=200"
    code, body = await workflow.call(http, "GET", url, who.auth)
    assert code == 200, body
    return body["data"]
