"""Big files stream with bounded memory; an object store outage fails uploads cleanly."""

from __future__ import annotations

import hashlib
import tracemalloc

import aiohttp
import pytest

from tests.integration.documents.conftest import INPUT_DOC, TASK_REQUEST

SIZE = 50 * 1024 * 1024
CHUNK = 256 * 1024


def _chunk(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (CHUNK // 32)


async def _generated():
    for i in range(SIZE // CHUNK):
        yield _chunk(i)


async def test_large_file_streams_with_bounded_memory(world):
    world.settings.documents_upload_limits = {"workflow": SIZE + 1}
    case = await world.start_case()
    expected = hashlib.sha256()
    for i in range(SIZE // CHUNK):
        expected.update(_chunk(i))
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in (("inp_doc_uid", INPUT_DOC), ("tas_uid", TASK_REQUEST)):
        part = writer.append(value)
        part.set_content_disposition("form-data", name=name)
    part = writer.append(_generated())
    part.set_content_disposition("form-data", name="form", filename="big.bin")
    tracemalloc.start()
    try:
        status, doc, _ = await world.request(
            "POST", f"/api/1.0/workflow/cases/{case['app_uid']}/input-document", data=writer
        )
        assert status == 200, doc
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        size = 0
        path = doc["app_doc_link"].removeprefix("http://casemesh.test")
        async with world.http.get(world.url + path, headers=_admin_headers()) as r:
            assert r.status == 200
            async for chunk in r.content.iter_chunked(CHUNK):
                got.update(chunk)
                size += len(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == SIZE and got.hexdigest() == expected.hexdigest()
    # Client, service and adapter share this process: all of them stayed far below the file.
    assert upload_peak < 20 * 1024 * 1024, upload_peak
    assert download_peak < 20 * 1024 * 1024, download_peak


def _admin_headers() -> dict:
    from casemesh.identity import identity_headers
    from tests.integration.cases.conftest import SECRET, admin

    return identity_headers(admin(), SECRET)


@pytest.mark.slow
@pytest.mark.parametrize("object_backend", ["s3"], indirect=True)  # stops the S3 server
async def test_object_store_down(world, object_backend, request):
    server = request.getfixturevalue("s3_server")
    case = await world.start_case()
    status, doc, _ = await world.upload(case["app_uid"], b"before the outage")
    assert status == 200, doc
    server.stop(grace=0)
    try:
        status, body, headers = await world.upload(case["app_uid"], b"during the outage")
        assert status == 503, body
        assert "object store" in body["error"]["message"]
        status, listed, _ = await world.request(
            "GET", f"/api/1.0/workflow/cases/{case['app_uid']}/input-documents"
        )
        assert status == 200 and [d["app_doc_version"] for d in listed] == ["1"]
        status, _, _ = await world.request(
            "GET", doc["app_doc_link"].removeprefix("http://casemesh.test")
        )
        assert status == 503
        assert len(await world.app_store.find("documents")) == 1
    finally:
        server.start()
    status, doc, _ = await world.upload(case["app_uid"], b"after the outage")
    assert status == 200 and doc["app_doc_version"] == "2"
