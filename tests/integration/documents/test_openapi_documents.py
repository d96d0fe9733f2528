"""The documents service's OpenAPI fragment: complete, valid, and what the service really answers.

Every route the service's aiohttp app registers (but health, metrics and
``/internal/…``) is declared and every declared operation is served; every
schema in the fragment is valid JSON Schema and the fragment a valid OpenAPI
3.1 document; and real answers of every operation — successes and errors —
match the response declared for their status (JSON bodies against their
schema, downloads against their media types and headers).
"""

from __future__ import annotations

import aiohttp
import pytest

from casemesh.bus.memory import InProcessBus
from casemesh.identity import PM_CASES, identity_headers
from casemesh.internal import INTERNAL_HEADER
from casemesh.objects.filesystem import FilesystemObjectStore
from casemesh.settings import Settings
from casemesh.web.openapi import build_fragment
from services.documents.app import create_app
from services.documents.openapi import operations
from tests.fixtures.openapi_contract import (
    Contract,
    assert_routes_match,
    assert_valid_fragment,
    declared_routes,
    fetch_contract,
)
from tests.integration.cases.conftest import SECRET, admin
from tests.integration.documents.conftest import (
    INPUT_DOC,
    OUTPUT_BOTH,
    OUTPUT_DOC,
    TASK_REQUEST,
    World,
)

CASE = "/api/1.0/{workspace}/cases/{app_uid}"
ONE_IN = CASE + "/input-document/{app_doc_uid}"
ONE_OUT = CASE + "/output-document/{app_doc_uid}"
PDF = b"%PDF-1.4 a small file\n" * 50


@pytest.fixture
def object_backend() -> str:
    return "filesystem"  # the contract does not depend on the object store


async def call(world: World, contract: Contract, method: str, template: str, who=None, **kw):
    """``world.request`` on the template filled with ``path=``, its answer checked."""
    path = template.format(**{"workspace": "workflow", **kw.pop("path", {})})
    status, body, headers = await world.request(method, path, who, **kw)
    contract.check(method, template, status, body, headers)
    return status, body, headers


@pytest.fixture
async def contract(world: World) -> Contract:
    return await fetch_contract(world.http, world.url)


async def test_every_route_is_declared_and_every_declared_route_is_served(tmp_path):
    settings = Settings(mode="embedded", data_dir=tmp_path, internal_secret="s")
    objects = FilesystemObjectStore(tmp_path / "objects", fsync=False)
    app = create_app(settings, bus=InProcessBus(), owns_bus=False, objects=objects)
    assert_routes_match(app, build_fragment("documents", operations()))


async def test_the_fragment_is_valid_openapi_and_json_schema(contract: Contract):
    fragment = contract.fragment
    assert_valid_fragment(fragment, "documents")
    upload = fragment["paths"][CASE + "/input-document"]["post"]["requestBody"]["content"]
    schema = upload["multipart/form-data"]["schema"]
    assert schema["properties"]["form"]["format"] == "binary"
    assert {"form", "tas_uid", "inp_doc_uid"} <= set(schema["required"])
    kibana = fragment["paths"]["/s/{space}/api/cases/{case_id}/files"]["post"]
    assert {"name": "kbn-xsrf", "in": "header", "required": True, "schema": {"type": "string"}} in (
        kibana["parameters"]
    )
    assert kibana["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/documents.KibanaError"
    }


def _upload_form(data: bytes, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for name, value in {"inp_doc_uid": INPUT_DOC, "tas_uid": TASK_REQUEST, **fields}.items():
        form.add_field(name, value)
    form.add_field("form", data, filename="a.pdf", content_type="application/octet-stream")
    return form


async def input_documents(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    case = {"app_uid": app_uid}
    status, doc, _ = await call(
        world, contract, "POST", CASE + "/input-document", path=case, data=_upload_form(PDF)
    )
    assert status == 200 and doc["app_doc_version"] == "1"
    one = {**case, "app_doc_uid": doc["app_doc_uid"]}
    more = _upload_form(b"second version", app_doc_comment="v2")
    status, v2, _ = await call(
        world, contract, "POST", CASE + "/input-document", path=case, data=more
    )
    assert status == 200 and v2["app_doc_version"] == "2"
    status, listed, _ = await call(world, contract, "GET", CASE + "/input-documents", path=case)
    assert status == 200 and [d["app_doc_uid"] for d in listed] == [doc["app_doc_uid"]]
    assert (await call(world, contract, "GET", ONE_IN, path=one))[1]["app_doc_comment"] == "v2"
    status, versions, _ = await call(world, contract, "GET", ONE_IN + "/versions", path=one)
    assert status == 200 and len(versions) == 2
    status, data, headers = await call(
        world, contract, "GET", ONE_IN + "/file", path=one, params={"v": "1"}
    )
    assert status == 200 and data == PDF and headers["Content-Type"] == "application/pdf"
    ranged = {"Range": "bytes=0-3"}
    status, data, _ = await call(world, contract, "GET", ONE_IN + "/file", path=one, headers=ranged)
    assert status == 206 and data == b"seco"
    etag = {"If-None-Match": headers["ETag"]}
    status, _, _ = await call(
        world, contract, "GET", ONE_IN + "/file", path=one, params={"v": "1"}, headers=etag
    )
    assert status == 304
    status, err, _ = await call(
        world, contract, "GET", ONE_IN + "/file", path=one, headers={"Range": "bytes=900-"}
    )
    assert status == 416 and err["error"]["code"] == 416
    status, err, _ = await call(
        world, contract, "GET", ONE_IN + "/file", path=one, params={"v": "x"}
    )
    assert status == 400 and err["error"]["message"] == "Bad Request: v must be a version number"
    no_task = aiohttp.FormData()
    no_task.add_field("inp_doc_uid", INPUT_DOC)
    no_task.add_field("form", b"x", filename="x.txt")
    status, err, _ = await call(
        world, contract, "POST", CASE + "/input-document", path=case, data=no_task
    )
    assert status == 400 and "`tas_uid` is required" in err["error"]["message"]
    status, _, _ = await call(world, contract, "GET", ONE_IN, world.who("dave"), path=one)
    assert status == 403
    assert (await call(world, contract, "DELETE", ONE_IN, path=one))[0] == 200
    assert (await call(world, contract, "GET", ONE_IN, path=one))[0] == 400

    status, other, _ = await call(
        world, contract, "POST", CASE + "/input-document", path=case, data=_upload_form(b"3")
    )
    by_index = CASE + "/{del_index}/input-document/{app_doc_uid}"
    where = {**case, "del_index": 1, "app_doc_uid": other["app_doc_uid"]}
    assert (await call(world, contract, "DELETE", by_index, path=where))[0] == 200


async def output_documents(world: World, contract: Contract) -> None:
    variables = [{"client": "Acme", "amount": 12.5, "items": [{"name": "Widget", "price": 3}]}]
    app_uid = (await world.start_case(variables))["app_uid"]
    case = {"app_uid": app_uid}
    status, doc, _ = await call(
        world, contract, "POST", CASE + "/output-document", path=case,
        json={"out_doc_uid": OUTPUT_DOC},
    )  # fmt: skip
    assert status == 200 and doc["app_doc_type"] == "OUTPUT PDF"
    status, both, _ = await call(
        world, contract, "POST", CASE + "/output-document/", path=case,
        data={"out_doc_uid": OUTPUT_BOTH},
    )  # fmt: skip
    assert status == 200 and both["app_doc_type"] == "OUTPUT BOTH"
    status, listed, _ = await call(world, contract, "GET", CASE + "/output-documents", path=case)
    assert status == 200 and len(listed) == 2
    one = {**case, "app_doc_uid": both["app_doc_uid"]}
    assert (await call(world, contract, "GET", ONE_OUT, path=one))[1] == both
    status, word, headers = await call(
        world, contract, "GET", ONE_OUT + "/file", path=one, params={"ext": "doc"}
    )
    assert status == 200 and headers["Content-Type"].startswith("application/vnd.openxml")
    status, err, _ = await call(
        world, contract, "GET", ONE_OUT + "/file", path=one, params={"ext": "exe"}
    )
    assert status == 400
    status, err, _ = await call(
        world, contract, "POST", CASE + "/output-document", path=case, json={"out_doc_uid": ""}
    )
    assert status == 400 and "`out_doc_uid` is required" in err["error"]["message"]
    assert (await call(world, contract, "DELETE", ONE_OUT, path=one))[0] == 200
    assert (await call(world, contract, "GET", ONE_OUT + "/file", path=one))[0] == 400


async def datastore(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    headers = {**identity_headers(admin(), SECRET), INTERNAL_HEADER: SECRET}
    async with world.http.post(
        f"{world.url}/internal/v1/attachments",
        params={"app_uid": app_uid, "name": "shot.pdf"},
        data=PDF,
        headers=headers,
    ) as r:
        assert r.status == 201
        sha = (await r.json())["id"]
    one = {"id": sha}
    status, data, _ = await call(world, contract, "GET", "/api/datastore/{id}", path=one)
    assert status == 200 and data == PDF
    status, _, headers = await call(
        world, contract, "GET", "/api/datastorezip/{id}", path=one, params={"name": "b.pdf"}
    )
    assert status == 200 and headers["Content-Type"] == "application/zip"
    status, err, _ = await call(world, contract, "GET", "/api/datastore/{id}", path={"id": "x"})
    assert status == 404 and err["type"] == "NotFoundError"


def _kibana_form(data: bytes, filename: str = "") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="report.txt", content_type="text/plain")
    if filename:
        form.add_field("filename", filename)
    return form


async def kibana(world: World, contract: Contract) -> None:
    app_uid = (await world.start_case())["app_uid"]
    xsrf = {"kbn-xsrf": "true"}
    for prefix, where in (("", {}), ("/s/{space}", {"space": "security"})):
        base = prefix + "/api/cases/{case_id}"
        case = {**where, "case_id": app_uid}
        status, body, _ = await call(
            world, contract, "POST", base + "/files", path=case, headers=xsrf,
            data=_kibana_form(b"hello", "renamed"),
        )  # fmt: skip
        assert status == 200 and body["comments"]
        assert (await call(world, contract, "GET", base, path=case))[1]["id"] == app_uid
        status, comments, _ = await call(world, contract, "GET", base + "/comments", path=case)
        assert status == 200 and comments["total"] == len(body["comments"])
        status, err, _ = await call(
            world, contract, "POST", base + "/files", path=case, data=_kibana_form(b"x")
        )
        assert status == 400 and err["message"] == "Request must contain a kbn-xsrf header."
        status, err, _ = await call(world, contract, "GET", base, path={**where, "case_id": "no"})
        assert status == 404 and err["statusCode"] == 404
    bob = world.who("bob", PM_CASES)
    status, _, _ = await call(
        world, contract, "POST", "/api/cases/{case_id}/files", bob, path={"case_id": app_uid},
        headers=xsrf, data=_kibana_form(b"x"),
    )  # fmt: skip
    assert status in (403, 404)


async def test_real_answers_conform_and_every_operation_succeeds(world, contract):
    await input_documents(world, contract)
    await output_documents(world, contract)
    await datastore(world, contract)
    await kibana(world, contract)
    assert contract.succeeded == declared_routes(contract.fragment)
