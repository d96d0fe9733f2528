"""Downloads through a real gateway: on S3 the gateway fetches the bytes itself.

The documents and cases services of ``world`` (filesystem or a real
SeaweedFS) behind a real gateway, which signs in through the cases service.
On S3 the documents service answers the gateway's offered GETs without a
body and with a presigned URL, and the gateway fetches the range from
SeaweedFS (``casemesh.direct_fetch``); its ``/metrics`` counts the fetches.
On the filesystem nothing changes: the documents service streams the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import pytest

from casemesh.direct_fetch import OFFER_HEADER, RANGE_HEADER, URL_HEADER
from casemesh.identity import identity_headers
from casemesh.settings import Settings
from gateway.app import create_app
from tests.e2e.flows import login
from tests.fixtures.web import serving
from tests.integration.cases.conftest import SECRET, admin

DATA = os.urandom(2 * 1024 * 1024 + 11)  # a few of the adapter's 1 MiB reads


@dataclass
class Front:
    url: str
    auth: dict[str, str]

    def pm(self, link: str) -> str:
        return self.url + link.removeprefix("http://casemesh.test")


@pytest.fixture
async def front(world, tmp_path):
    urls = {f"{s}_url": world.url for s in ("notes", "documents", "notifications")}
    settings = Settings(
        mode="embedded",
        data_dir=tmp_path / "gateway",
        internal_secret=SECRET,
        cases_url=world.cases_url,
        **urls,
    )
    async with serving(create_app(settings)) as url:
        yield Front(url, await login(world.http, url, password="admin-test-password"))


async def fetches(world, front: Front, outcome: str = "streamed") -> float:
    async with world.http.get(f"{front.url}/metrics") as r:
        text = await r.text()
    found = re.search(
        rf'^casemesh_gateway_direct_fetches_total{{outcome="{outcome}"}} (\S+)$', text, re.M
    )
    return float(found[1]) if found else 0.0


async def uploaded(world, data: bytes = DATA, case: dict | None = None) -> dict:
    world.settings.documents_upload_limits = {"workflow": len(data)}
    case = case or await world.start_case()
    status, doc, _ = await world.upload(case["app_uid"], data, "report.bin")
    assert status == 200, doc
    return doc


def gateway_only(headers) -> list[str]:
    return [name for name in headers if name.lower().startswith("x-casemesh-")]


async def test_download_through_the_gateway(world, front, object_backend):
    doc = await uploaded(world)
    async with world.http.get(front.pm(doc["app_doc_link"]), headers=front.auth) as r:
        assert r.status == 200
        assert await r.read() == DATA
        assert r.headers["Content-Length"] == str(len(DATA))
        assert r.headers["ETag"].strip('"') == hashlib.sha256(DATA).hexdigest()
        assert "filename*=UTF-8''report.bin" in r.headers["Content-Disposition"]
        assert gateway_only(r.headers) == []
    # On S3 the gateway fetched the bytes itself; on the filesystem the service sent them.
    assert await fetches(world, front) == (1.0 if object_backend == "s3" else 0.0)


async def test_the_service_hands_over_only_when_offered(world, object_backend):
    doc = await uploaded(world)
    link = doc["app_doc_link"].removeprefix("http://casemesh.test")
    offered = {**identity_headers(admin(), SECRET), OFFER_HEADER: "1"}
    async with world.http.get(world.url + link, headers=offered) as r:
        body = await r.read()
        if object_backend == "filesystem":
            assert r.status == 200 and body == DATA and URL_HEADER not in r.headers
            return
        # Everything but the body: the gateway fetches it.
        assert r.status == 200 and body == b"" and r.headers["Content-Length"] == "0"
        assert r.headers[RANGE_HEADER] == f"0-{len(DATA) - 1}"
        assert r.headers[URL_HEADER].startswith(f"http://{world.objects._client._base_url.host}/")
        assert r.headers["ETag"] and r.headers["Content-Type"] == "application/octet-stream"
    async with world.http.get(world.url + link, headers=identity_headers(admin(), SECRET)) as r:
        assert await r.read() == DATA and URL_HEADER not in r.headers  # not offered: streamed
    async with world.http.head(world.url + link, headers=offered) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(len(DATA))
        assert URL_HEADER not in r.headers  # a HEAD has no body to fetch
    async with world.http.get(world.url + link, headers=identity_headers(admin(), SECRET)) as r:
        assert await r.read() == DATA  # the connection is still in step after the HEAD


async def test_ranges_and_conditions(world, front, object_backend):
    doc = await uploaded(world)
    url, size = front.pm(doc["app_doc_link"]), len(DATA)
    cases = [
        ("bytes=1000-1999", f"bytes 1000-1999/{size}", DATA[1000:2000]),
        ("bytes=-50", f"bytes {size - 50}-{size - 1}/{size}", DATA[-50:]),
        (f"bytes={size - 10}-", f"bytes {size - 10}-{size - 1}/{size}", DATA[-10:]),
        ("bytes=5-5", f"bytes 5-5/{size}", DATA[5:6]),
    ]
    for header, content_range, expected in cases:
        async with world.http.get(url, headers={**front.auth, "Range": header}) as r:
            assert r.status == 206, header
            assert r.headers["Content-Range"] == content_range
            assert await r.read() == expected
            assert gateway_only(r.headers) == []
    etag = f'"{hashlib.sha256(DATA).hexdigest()}"'
    before = await fetches(world, front)
    async with world.http.get(url, headers={**front.auth, "If-None-Match": etag}) as r:
        assert r.status == 304 and await r.read() == b""
    async with world.http.get(url, headers={**front.auth, "Range": f"bytes={size}-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == f"bytes */{size}"
        assert (await r.json())["error"]["code"] == 416
    assert await fetches(world, front) == before  # neither went to the object store
    stale = {**front.auth, "Range": "bytes=0-9", "If-Range": '"another"'}
    async with world.http.get(url, headers=stale) as r:
        assert r.status == 200 and await r.read() == DATA
    if object_backend == "s3":
        assert await fetches(world, front) == before + 1


async def test_content_deleted_behind_our_back_is_404(world, front, object_backend):
    doc = await uploaded(world)
    (record,) = [d for d in await world.app_store.find("documents")]
    await world.objects.delete(record["files"]["file"]["key"])
    async with world.http.get(front.pm(doc["app_doc_link"]), headers=front.auth) as r:
        assert r.status == 404
        assert await r.json() == {
            "error": {
                "code": 404,
                "message": "Not Found: the file's content is missing from the object store",
            }
        }
        assert gateway_only(r.headers) == []
    if object_backend == "s3":
        assert await fetches(world, front, "missing") == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("object_backend", ["s3"], indirect=True)  # stops the S3 server
async def test_object_store_stopped_is_503_in_each_shape(world, front, object_backend, request):
    server = request.getfixturevalue("s3_server")
    case = await world.start_case()
    doc = await uploaded(world, case=case)
    attachment = await _attach(world, case["app_uid"])
    server.stop(grace=0)
    try:
        async with world.http.get(front.pm(doc["app_doc_link"]), headers=front.auth) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "5"
            assert await r.json() == {
                "error": {
                    "code": 503,
                    "message": "Service Unavailable: the object store is unavailable",
                }
            }
        async with world.http.get(
            f"{front.url}/api/datastore/{attachment}", headers=front.auth
        ) as r:
            assert r.status == 503
            assert await r.json() == {
                "type": "ServiceUnavailable",
                "message": "the object store is unavailable",
            }
        assert await fetches(world, front, "unavailable") == 2.0
    finally:
        server.start()
    async with world.http.get(front.pm(doc["app_doc_link"]), headers=front.auth) as r:
        assert r.status == 200 and await r.read() == DATA


async def test_thehive_attachment_through_the_gateway(world, front, object_backend):
    case = await world.start_case()
    sha256 = await _attach(world, case["app_uid"])
    url = f"{front.url}/api/datastore/{sha256}?name=shot.pdf"
    async with world.http.get(url, headers=front.auth) as r:
        assert r.status == 200 and await r.read() == ATTACHMENT
        assert "filename*=UTF-8''shot.pdf" in r.headers["Content-Disposition"]
    for record in await world.app_store.find("documents"):
        await world.objects.delete(record["files"]["file"]["key"])
    async with world.http.get(url, headers=front.auth) as r:
        assert r.status == 404
        assert await r.json() == {
            "type": "NotFoundError",
            "message": "the file's content is missing from the object store",
        }


ATTACHMENT = b"%PDF-1.4 not really a pdf\n" * 1000


async def _attach(world, app_uid: str) -> str:
    from casemesh.internal import INTERNAL_HEADER

    headers = {**identity_headers(admin(), SECRET), INTERNAL_HEADER: SECRET}
    async with world.http.post(
        f"{world.url}/internal/v1/attachments",
        params={"app_uid": app_uid, "name": "shot.pdf"},
        data=ATTACHMENT,
        headers=headers,
    ) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["id"]
