"""The gateway's API contract: a valid OpenAPI 3.1 document that says what the code does.

Against a real embedded platform: the merged document validates, declares
every route of the cases service and nothing the gateway would not route,
real answers match their declared schemas, and ``/docs`` renders it from
assets the gateway itself serves.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from openapi_spec_validator import validate as validate_openapi

from casemesh.settings import SERVICE_NAMES, Settings
from casemesh.web.openapi import build_fragment
from gateway import openapi as gateway_contract
from gateway.app import create_app as create_gateway
from gateway.routing import ROUTE_TABLE, service_for
from services.cases import openapi as cases_contract
from services.cases.app import create_app as create_cases
from tests.e2e.flows import ADMIN_PASSWORD, login
from tests.fixtures.embedded import embedded_platform
from tests.fixtures.openapi_contract import (
    Contract,
    assert_routes_cover,
    declared_samples,
    fetch_contract,
    operation_ids,
    sample,
    served_routes,
)
from tests.fixtures.web import serving

PROCESS = "a1000000000000000000000000000000"
FIRST_TASK = "a1000000000000000000000000000001"
# The routes the gateway answers itself, as its own contract declares them.
GATEWAY_OWN = set(build_fragment("gateway", gateway_contract.operations(), always=())["paths"])


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    async with embedded_platform(tmp_path_factory.mktemp("openapi")) as running:
        yield running


@pytest.fixture(scope="module")
async def document(platform) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        return (await fetch_contract(http, platform.gateway_url)).fragment


# -- the document ---------------------------------------------------------------------


async def test_the_merged_document_is_valid_openapi_31(document):
    validate_openapi(document)  # raises on any violation of the 3.1 schema
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/workflow/oauth2/token"
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["basic"] == {**schemes["basic"], "type": "http", "scheme": "basic"}


async def test_every_service_gave_its_part(document):
    assert "x-casemesh-unavailable" not in document
    ids = operation_ids(document)
    for service in ("gateway", *SERVICE_NAMES):
        assert any(i.startswith(f"{service}_") for i in ids), f"nothing from {service}"


async def test_every_declared_path_is_one_the_gateway_serves(document):
    for path in document["paths"]:
        own = path in GATEWAY_OWN
        assert own or service_for(sample(path)) is not None, f"the gateway routes nowhere: {path}"


async def test_every_routed_family_has_declared_operations(document):
    """Each row of the gateway's routing table matches at least one declared path."""
    samples = [sample(p) for p in document["paths"]]
    for pattern, service in ROUTE_TABLE:
        assert any(re.match(pattern, s) for s in samples), f"{service}: nothing for {pattern}"


async def test_operations_declare_their_security(document):
    open_paths = {"/{workspace}/oauth2/token", *GATEWAY_OWN}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            if path in open_paths:
                assert op["security"] == [], f"{method} {path} is open"
            else:
                assert {"oauth2": []} in op["security"], f"{method} {path} needs credentials"
                assert "401" in op["responses"]


def test_every_route_the_gateway_answers_itself_is_declared(tmp_path):
    app = create_gateway(Settings(mode="embedded", data_dir=tmp_path))
    routes = [
        (route.method, resource.canonical)
        for resource in app.router.resources()
        for route in resource
        if route.method not in ("HEAD", "*")  # "*": the proxy, declared by the services
    ]
    fragment = build_fragment("gateway", gateway_contract.operations(), always=())
    assert len(routes) >= 8
    assert_routes_cover(routes, declared_samples(fragment))


async def test_the_gateway_declares_its_own_refusals(document):
    token = document["paths"]["/{workspace}/oauth2/token"]["post"]
    new_case = document["paths"]["/api/1.0/{workspace}/cases"]["post"]
    for status in ("408", "413", "414", "429", "431", "502", "503", "504"):
        assert status in new_case["responses"], status
    assert "Retry-After" in new_case["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" for p in new_case["parameters"])
    # The token endpoint needs no credentials, so no Idempotency-Key either.
    assert not any(p["name"] == "Idempotency-Key" for p in token["parameters"])
    docs = document["paths"]["/docs"]["get"]["responses"]
    assert "431" in docs and "429" not in docs  # the head check covers it, no rate limit


# -- the cases service ------------------------------------------------------------------


def test_every_route_of_the_cases_service_is_declared(tmp_path):
    app = create_cases(Settings(mode="embedded", data_dir=tmp_path))
    fragment = build_fragment("cases", cases_contract.operations())
    declared = declared_samples(fragment)
    routes = served_routes(app)
    assert len(routes) > 50
    assert_routes_cover(routes, declared)
    for _, concrete in declared:
        assert service_for(concrete) == "cases", f"the gateway does not send {concrete} to cases"


class Checked:
    """Calls through the gateway, each answer checked against the response declared for it."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, document: dict, auth: dict):
        self.http, self.gateway, self.auth = http, gateway, auth
        self.contract = Contract(document)
        self.seen: list[str] = []

    async def call(self, method: str, template: str, status: int, **params: Any) -> Any:
        json_body, query = params.pop("json", None), params.pop("query", None)
        path = template.format(**params)
        async with self.http.request(
            method, self.gateway + path, json=json_body, params=query, headers=self.auth
        ) as r:
            assert r.status == status, f"{method} {path}: {r.status} {await r.text()}"
            if not r.content_length and r.content_type != "application/json":
                body = None
            else:
                body = await r.json()
            self.contract.check(method, template, status, body, r.headers)
        self.seen.append(f"{method} {template}")
        return body


async def test_real_answers_match_their_declared_schemas(platform, document):
    pm = "/api/1.0/{workspace}"
    async with aiohttp.ClientSession() as http:
        auth = await login(http, platform.gateway_url)
        c = Checked(http, platform.gateway_url, document, auth)
        ws = {"workspace": "workflow"}
        created = await c.call(
            "POST", pm + "/cases", 200, json={"pro_uid": PROCESS, "tas_uid": FIRST_TASK}, **ws
        )
        case = {**ws, "app_uid": created["app_uid"]}
        for suffix in ("", "/draft", "/participated", "/unassigned", "/paused", "/advanced-search"):
            rows = await c.call("GET", pm + "/cases" + suffix, 200, **ws)
            page = await c.call("GET", pm + "/cases" + suffix + "/paged", 200, **ws)
            if suffix in ("", "/participated", "/advanced-search"):
                assert rows and page["data"], f"the new case is missing from {suffix or 'to do'}"
        await c.call("GET", pm + "/cases/{app_uid}", 200, **case)
        await c.call("GET", pm + "/cases/{app_uid}/current-task", 200, **case)
        tasks = await c.call("GET", pm + "/cases/{app_uid}/tasks", 200, **case)
        assert any(t["delegations"] for t in tasks)
        await c.call("GET", pm + "/cases/{app_uid}/variables", 200, **case)
        await c.call("GET", pm + "/processes", 200, **ws)
        await c.call("GET", pm + "/processes/{pro_uid}", 200, pro_uid=PROCESS, **ws)
        users = await c.call("GET", pm + "/users", 200, **ws)
        me = {**ws, "usr_uid": users[0]["usr_uid"]}
        await c.call("GET", pm + "/user/{usr_uid}", 200, **me)
        await c.call("POST", pm + "/user/{usr_uid}/api-keys", 201, json={"name": "ci"}, **me)
        await c.call("GET", pm + "/user/{usr_uid}/api-keys", 200, **me)
        group = await c.call("POST", pm + "/group", 201, json={"grp_title": "Contract"}, **ws)
        await c.call("GET", pm + "/groups", 200, **ws)
        await c.call("GET", pm + "/group/{grp_uid}", 200, grp_uid=group["grp_uid"], **ws)
        await c.call("GET", pm + "/group/{grp_uid}/users", 200, grp_uid=group["grp_uid"], **ws)
        roles = await c.call("GET", pm + "/roles", 200, **ws)
        role = {**ws, "rol_uid": roles[0]["rol_uid"]}
        await c.call("GET", pm + "/role/{rol_uid}", 200, **role)
        await c.call("GET", pm + "/role/{rol_uid}/permissions", 200, **role)
        await c.call("GET", pm + "/role/{rol_uid}/users", 200, **role)
        ping = await c.call("POST", "/casemesh/v1/pings", 201, json={"message": "contract"})
        await c.call("GET", "/casemesh/v1/pings/{ping_id}", 200, ping_id=ping["id"])
        # Errors too: ProcessMaker's shape, and Casemesh's on its own endpoints.
        await c.call("GET", pm + "/cases/{app_uid}", 400, app_uid="no-such-case", **ws)
        await c.call("GET", pm + "/cases", 400, query={"sort": "NOPE"}, **ws)
        await c.call("GET", "/casemesh/v1/pings/{ping_id}", 404, ping_id="nope")
        await c.call("PUT", pm + "/cases/{app_uid}/cancel", 200, **case)
    assert len(c.seen) >= 30


async def test_the_token_endpoint_answers_as_declared(platform, document):
    path = "/{workspace}/oauth2/token"
    form = {
        "grant_type": "password",
        "client_id": "casemesh",
        "client_secret": "casemesh-secret",
        "username": "admin",
    }
    contract = Contract(document)
    async with aiohttp.ClientSession() as http:
        url = f"{platform.gateway_url}/workflow/oauth2/token"
        async with http.post(url, data={**form, "password": ADMIN_PASSWORD}) as r:
            assert r.status == 200
            contract.check("POST", path, r.status, await r.json(), r.headers)
        async with http.post(url, data={**form, "password": "wrong"}) as r:
            assert r.status == 401
            contract.check("POST", path, r.status, await r.json(), r.headers)


# -- /docs -------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_renders_the_document_from_local_assets(platform):
    docs = f"{platform.gateway_url}/docs"
    async with aiohttp.ClientSession() as http:
        async with http.get(docs) as r:
            assert r.status == 200 and r.content_type == "text/html"
            page = await r.text()
        links = _Links()
        links.feed(page)
        assert any(u.endswith("swagger-ui-bundle.js") for u in links.urls)
        gateway = urlsplit(platform.gateway_url).netloc
        for url in links.urls:
            absolute = urljoin(docs, url)
            assert urlsplit(absolute).netloc == gateway, f"{url} loads from elsewhere"
            async with http.get(absolute) as r:
                assert r.status == 200, url
                assert len(await r.read()) > 100, url
        # The page asks for the document next to it; Swagger UI 5 renders OpenAPI 3.1.
        assert 'url: "openapi.json"' in page
        async with http.get(urljoin(docs, "docs/assets/swagger-ui-bundle.js")) as r:
            bundle = await r.text()
        assert "3.1" in bundle and "validatorUrl" in page
        async with http.get(urljoin(docs, "docs/assets/index.html")) as r:
            assert r.status == 404  # only the files the page needs are served


async def test_a_missing_service_leaves_a_partial_document_not_an_error():
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    settings = Settings(
        mode="embedded",
        cases_url=closed,
        notes_url=closed,
        documents_url=closed,
        notifications_url=closed,
    )
    async with serving(create_gateway(settings)) as gateway, aiohttp.ClientSession() as http:
        async with http.get(f"{gateway}/openapi.json") as r:
            assert r.status == 200
            partial = await r.json()
    assert partial["x-casemesh-unavailable"] == list(SERVICE_NAMES)
    assert "/docs" in partial["paths"] and not any(p.startswith("/api/") for p in partial["paths"])
    validate_openapi(partial)
