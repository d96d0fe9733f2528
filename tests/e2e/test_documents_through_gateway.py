"""Files through the gateway: a ProcessMaker input document and a Kibana case file.

The gateway streams the multipart upload to the documents service and the
download back; app_doc_link is a real download URL of the gateway.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import aiohttp
import pytest

from casemesh.embedded import start_platform
from casemesh.settings import Settings
from tests.e2e.flows import login, wait_ready

EXAMPLES = Path(__file__).parents[2] / "services" / "cases" / "definitions" / "examples"
PASSWORD = "documents-e2e-admin"
PROCESS, SUBMIT = "b2000000000000000000000000000000", "b2000000000000000000000000000001"
SIGNED_CONTRACT = "b2d00000000000000000000000000001"


@pytest.fixture
async def gateway(tmp_path):
    settings = Settings(
        mode="embedded",
        data_dir=tmp_path,
        port=0,
        admin_password=PASSWORD,
        definitions_dir=EXAMPLES,
    )
    platform = await start_platform(settings.model_copy(update={"public_url": "http://gw.invalid"}))
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, platform.gateway_url)
        yield platform.gateway_url
    finally:
        await platform.stop()


async def test_input_document_and_kibana_file_round_trip(gateway):
    payload = os.urandom(3 * 1024 * 1024)  # over aiohttp's 1 MiB default body limit
    async with aiohttp.ClientSession() as http:
        auth = await login(http, gateway, password=PASSWORD)
        api = f"{gateway}/api/1.0/workflow"
        async with http.post(
            f"{api}/cases", json={"pro_uid": PROCESS, "tas_uid": SUBMIT}, headers=auth
        ) as r:
            app_uid = (await r.json())["app_uid"]

        form = aiohttp.FormData()
        form.add_field("inp_doc_uid", SIGNED_CONTRACT)
        form.add_field("tas_uid", SUBMIT)
        form.add_field("app_doc_comment", "signed")
        form.add_field(
            "form", payload, filename="contract.bin", content_type="application/octet-stream"
        )
        async with http.post(f"{api}/cases/{app_uid}/input-document", data=form, headers=auth) as r:
            assert r.status == 200, await r.text()
            doc = await r.json()
        assert doc["app_doc_filename"] == "contract.bin"
        async with http.get(f"{api}/cases/{app_uid}/input-documents", headers=auth) as r:
            assert [d["app_doc_uid"] for d in await r.json()] == [doc["app_doc_uid"]]
        link = doc["app_doc_link"]
        path = link[link.index("/api/1.0/") :]
        async with http.get(f"{gateway}{path}", headers=auth) as r:
            assert r.status == 200
            assert hashlib.sha256(await r.read()).hexdigest() == hashlib.sha256(payload).hexdigest()
            assert r.headers["ETag"].strip('"') == hashlib.sha256(payload).hexdigest()
            assert "filename*=" in r.headers["Content-Disposition"]

        kibana = f"{gateway}/api/cases/{app_uid}/files"
        form = aiohttp.FormData()
        form.add_field("file", b"hello kibana", filename="notes.txt", content_type="text/plain")
        async with http.post(kibana, data=form, headers=auth) as r:
            assert r.status == 400
            assert (await r.json())["statusCode"] == 400  # kbn-xsrf is required
        form = aiohttp.FormData()
        form.add_field("file", b"hello kibana", filename="notes.txt", content_type="text/plain")
        async with http.post(kibana, data=form, headers={**auth, "kbn-xsrf": "true"}) as r:
            assert r.status == 200, await r.text()
            case = await r.json()
        assert case["id"] == app_uid and case["totalComment"] >= 1
        comment = case["comments"][-1]
        assert comment["type"] == "externalReference"
        files = comment["externalReferenceMetadata"]["files"]
        assert [(f["name"], f["extension"], f["mimeType"]) for f in files] == [
            ("notes", "txt", "text/plain")
        ]
