"""TheHive attachments (the notes service's internal endpoint, the datastore) and Kibana files."""

from __future__ import annotations

import hashlib
import io

import aiohttp
import pyzipper

from casemesh.identity import PM_CASES, identity_headers
from casemesh.internal import INTERNAL_HEADER
from tests.integration.cases.conftest import SECRET, admin

DATA = b"%PDF-1.4 not really a pdf\n" * 100


async def _attach(world, app_uid: str, data: bytes, name: str = "shot.pdf", who=None):
    headers = {**identity_headers(who or admin(), SECRET), INTERNAL_HEADER: SECRET}
    async with world.http.post(
        f"{world.url}/internal/v1/attachments",
        params={"app_uid": app_uid, "name": name},
        data=data,
        headers=headers,
    ) as r:
        return r.status, await r.json()


async def test_attachment_roundtrip(world):
    case = await world.start_case()
    status, att = await _attach(world, case["app_uid"], DATA, "../x/shot.pdf")
    assert status == 201, att
    assert att == {
        "name": "shot.pdf",
        "hashes": [
            hashlib.sha256(DATA).hexdigest(),
            hashlib.sha1(DATA).hexdigest(),
            hashlib.md5(DATA).hexdigest(),
        ],
        "size": len(DATA),
        "contentType": "application/pdf",
        "id": hashlib.sha256(DATA).hexdigest(),
    }
    status, again = await _attach(world, case["app_uid"], DATA, "copy.pdf")
    assert again["id"] == att["id"] and await world.object_count() == 1
    status, body, headers = await world.request("GET", f"/api/datastore/{att['id']}?name=é.pdf")
    assert status == 200 and body == DATA
    assert "filename*=UTF-8''%C3%A9.pdf" in headers["Content-Disposition"]
    status, body, headers = await world.request("GET", f"/api/datastorezip/{att['id']}?name=a.pdf")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    archive = pyzipper.AESZipFile(io.BytesIO(body))
    archive.setpassword(b"malware")
    assert archive.namelist() == ["a.pdf"] and archive.read("a.pdf") == DATA


async def test_attachment_refusals(world):
    case = await world.start_case()
    async with world.http.post(
        f"{world.url}/internal/v1/attachments", params={"app_uid": case["app_uid"]}, data=b"x"
    ) as r:
        assert r.status == 401  # no internal secret
    status, _ = await _attach(world, "no-such-case", b"x")
    assert status == 404
    status, _ = await _attach(world, case["app_uid"], b"x", who=world.who("dave", PM_CASES))
    assert status == 403
    status, body, _ = await world.request("GET", f"/api/datastore/{'0' * 64}")
    assert status == 404 and body["type"] == "NotFoundError"
    status, body, _ = await world.request("GET", "/api/datastore/not-a-hash")
    assert status == 404


def _kibana_form(data: bytes, name: str = "report.txt", filename: str | None = None):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="text/plain")
    if filename is not None:
        form.add_field("filename", filename)
    return form


async def test_kibana_files(world):
    case = await world.start_case()
    base = f"/api/cases/{case['app_uid']}"
    status, body, _ = await world.request("POST", f"{base}/files", data=_kibana_form(b"hi"))
    assert status == 400 and body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Request must contain a kbn-xsrf header.",
    }
    status, body, _ = await world.request(
        "POST",
        f"/s/security{base}/files",
        data=_kibana_form(b"hello kibana", filename="renamed"),
        headers={"kbn-xsrf": "true"},
    )
    assert status == 200, body
    assert body["id"] == case["app_uid"] and body["totalComment"] == 1
    assert body["status"] in ("open", "in-progress", "closed") and body["owner"] == "cases"
    for key in ("version", "title", "created_at", "created_by", "connector", "settings"):
        assert key in body
    comment = body["comments"][0]
    assert comment["type"] == "externalReference"
    files = comment["externalReferenceMetadata"]["files"]
    assert files[0]["name"] == "renamed" and files[0]["extension"] == "txt"
    assert files[0]["mimeType"] == "text/plain"
    status, again, _ = await world.request("GET", base)
    assert status == 200 and again["comments"] == body["comments"]
    status, comments, _ = await world.request("GET", f"{base}/comments")
    assert status == 200 and comments["total"] == 1
    status, body, _ = await world.request(
        "POST", f"{base}/files", data=aiohttp.FormData({"x": "y"}), headers={"kbn-xsrf": "1"}
    )
    assert status == 400 and body["statusCode"] == 400
    status, body, _ = await world.request("GET", "/api/cases/no-such-case")
    assert status == 404 and body["error"] == "Not Found"
    status, body, _ = await world.request("GET", base, False)
    assert status == 401 and body["statusCode"] == 401
