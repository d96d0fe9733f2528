"""The notifications service's OpenAPI fragment: complete, valid, and what it really answers.

Every route the service's aiohttp app registers (but health, metrics and
``/internal/…``) is declared and every declared operation is served; every
schema in the fragment is valid JSON Schema and the fragment a valid OpenAPI
3.1 document; and real answers of every operation — successes and errors,
with deliveries made by real events sent to a real SMTP server — match the
response schema declared for their status.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator, SchemaError
from openapi_spec_validator import validate as validate_openapi

from casemesh.bus.memory import InProcessBus
from casemesh.identity import Identity, identity_headers
from casemesh.settings import Settings
from casemesh.web.openapi import build_fragment, merge_fragments
from services.notifications.app import create_app
from services.notifications.openapi import operations
from tests.integration.notifications.conftest import ADMIN, SECRET, Harness, identity_of, person
from tests.integration.notifications.test_mail_arrives import note

pytestmark = [pytest.mark.rabbitmq, pytest.mark.smtp]

NOT_PUBLIC = re.compile(r"^/(healthz|readyz|metrics|openapi\.json)$|^/internal/")
BASE = "/casemesh/v1/notifications"


def served_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and not NOT_PUBLIC.match(path):
            routes.add((route.method, path))
    return routes


def declared_routes(fragment: dict) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in fragment["paths"].items() for m in ops}


def schemas_in(fragment: dict) -> list[tuple[str, dict]]:
    found = [(f"component {n}", s) for n, s in fragment["components"]["schemas"].items()]
    for path, ops in fragment["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            found += [(f"{where} {p['name']}", p["schema"]) for p in op["parameters"]]
            for media, spec in op.get("requestBody", {}).get("content", {}).items():
                found.append((f"{where} body {media}", spec["schema"]))
            for status, answer in op["responses"].items():
                for media, spec in answer.get("content", {}).items():
                    found.append((f"{where} {status} {media}", spec["schema"]))
    return found


def pydantic_leftovers(schema: Any) -> list[str]:
    """Constraint names pydantic could not turn into JSON Schema (``ge`` for ``minimum``)."""
    if isinstance(schema, list):
        return [k for item in schema for k in pydantic_leftovers(item)]
    if not isinstance(schema, dict):
        return []
    found = sorted({"ge", "le", "gt", "lt"} & schema.keys()) if "type" in schema else []
    nested = (v for k, v in schema.items() if k != "properties")
    properties = schema.get("properties", {}).values() if "type" in schema else ()
    return found + [k for v in (*nested, *properties) for k in pydantic_leftovers(v)]


class Contract:
    """Checks answers against the fragment and remembers which operations succeeded."""

    def __init__(self, fragment: dict) -> None:
        self.fragment = fragment
        self.succeeded: set[tuple[str, str]] = set()

    def check(self, method: str, template: str, status: int, body: Any, media: str) -> None:
        op = self.fragment["paths"][template][method.lower()]
        answer = op["responses"].get(str(status))
        assert answer is not None, f"{method} {template} answered {status}, not declared"
        if "content" not in answer:
            assert body is None, f"{method} {template} {status} has an undeclared body"
        else:
            assert media in answer["content"], (method, template, status, media)
            schema = {
                **answer["content"][media]["schema"],
                "components": self.fragment["components"],
            }
            errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
            assert not errors, (method, template, status, errors[:3])
        if status < 300:
            self.succeeded.add((method, template))


async def call(
    service: Harness, contract: Contract, method: str, template: str, who: Identity = ADMIN, **kw
):
    path = template.format(**kw.pop("path", {}))
    headers = identity_headers(who, SECRET)
    async with service.http.request(method, service.url + path, headers=headers, **kw) as r:
        raw = await r.read()
        body = await r.json() if raw else None
        contract.check(method, template, r.status, body, r.content_type)
        return r.status, body


@pytest.fixture
async def contract(service: Harness) -> Contract:
    async with service.http.get(f"{service.url}/openapi.json") as r:
        assert r.status == 200 and r.content_type == "application/json"
        return Contract(await r.json())


async def test_every_route_is_declared_and_every_declared_route_is_served(tmp_path):
    settings = Settings(mode="embedded", data_dir=tmp_path, internal_secret="s")
    app = create_app(settings, bus=InProcessBus(), owns_bus=False)
    fragment = build_fragment("notifications", operations())
    served, declared = served_routes(app), declared_routes(fragment)
    assert served == declared, (served - declared, declared - served)
    every = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert ("GET", "/openapi.json") in every
    ids = [op["operationId"] for ops in fragment["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


async def test_the_fragment_is_valid_openapi_and_json_schema(contract: Contract):
    fragment = contract.fragment
    for where, schema in schemas_in(fragment):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            pytest.fail(f"{where}: {exc.message}")
        assert not pydantic_leftovers(schema), where
    validate_openapi(merge_fragments([fragment], title="notifications", version="1"))
    prefs = fragment["paths"][BASE + "/preferences"]["put"]["requestBody"]["content"]
    assert prefs["application/json"]["schema"] == {
        "$ref": "#/components/schemas/notifications.PreferencesBody"
    }
    body = fragment["components"]["schemas"]["notifications.PreferencesBody"]
    assert body["properties"]["kinds"]["additionalProperties"] == {"type": "boolean"}


async def test_real_answers_conform_and_every_operation_succeeds(service, contract):
    ann, bob = person("ann"), person("bob")
    await service.publish(note(ann, [ann, bob]))
    await service.mails(1)
    prefs, template = BASE + "/preferences", BASE + "/templates/{kind}"
    deliveries, one = BASE + "/deliveries", BASE + "/deliveries/{delivery_id}"

    status, mine = await call(service, contract, "GET", prefs, identity_of(bob))
    assert status == 200 and mine["usr_uid"] == bob.usr_uid
    change = {"kinds": {"task_overdue": False}}
    status, changed = await call(service, contract, "PUT", prefs, identity_of(bob), json=change)
    assert status == 200 and changed["kinds"]["task_overdue"] is False
    for bad in ({"kinds": {"task_overdue": "no"}}, {"kinds": {"nonsense": True}}, {"x": 1}):
        status, err = await call(service, contract, "PUT", prefs, json=bad)
        assert status == 400 and err["status"] == 400, bad
    params = {"usr_uid": ann.usr_uid}
    status, _ = await call(service, contract, "GET", prefs, identity_of(bob), params=params)
    assert status == 403

    status, every = await call(service, contract, "GET", BASE + "/templates")
    assert status == 200 and len(every) == 7
    kind = {"kind": "note_created"}
    status, own = await call(
        service, contract, "PUT", template, path=kind, json={"subject": "Note: {{ case.title }}"}
    )
    assert status == 200 and own["custom"] is True
    assert (await call(service, contract, "GET", template, path=kind))[1] == own
    status, err = await call(service, contract, "PUT", template, path=kind, json={"html": "{{ x"})
    assert status == 400 and err["message"].startswith("invalid template")
    status, _ = await call(service, contract, "PUT", template, identity_of(bob), path=kind, json={})
    assert status == 403
    assert (await call(service, contract, "DELETE", template, path=kind)) == (204, None)
    assert (await call(service, contract, "GET", template, path={"kind": "nope"}))[0] == 404

    status, page = await call(service, contract, "GET", deliveries, params={"status": "sent"})
    assert status == 200 and page["total"] == 1 and page["data"][0]["email"] == "bob@example.com"
    status, mine = await call(service, contract, "GET", deliveries, identity_of(bob))
    assert status == 200 and mine["total"] == 1
    delivery = {"delivery_id": page["data"][0]["id"]}
    assert (await call(service, contract, "GET", one, path=delivery))[1] == page["data"][0]
    assert (await call(service, contract, "GET", one, identity_of(ann), path=delivery))[0] == 404
    for bad in ({"limit": "0"}, {"start": "-1"}, {"status": "lost"}, {"limit": "1.5"}):
        status, _ = await call(service, contract, "GET", deliveries, params=bad)
        assert status == 400, bad
    assert contract.succeeded == declared_routes(contract.fragment)
