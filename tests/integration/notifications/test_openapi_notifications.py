"""The notifications service's OpenAPI fragment: complete, valid, and what it really answers.

Every route the service's aiohttp app registers (but health, metrics and
``/internal/…``) is declared and every declared operation is served; every
schema in the fragment is valid JSON Schema and the fragment a valid OpenAPI
3.1 document; and real answers of every operation — successes and errors,
with deliveries made by real events sent to a real SMTP server — match the
response schema declared for their status.
"""

from __future__ import annotations

import pytest

from casemesh.bus.memory import InProcessBus
from casemesh.identity import Identity, identity_headers
from casemesh.settings import Settings
from casemesh.web.openapi import build_fragment
from services.notifications.app import create_app
from services.notifications.openapi import operations
from tests.fixtures.openapi_contract import (
    Contract,
    assert_routes_match,
    assert_valid_fragment,
    declared_routes,
    fetch_contract,
)
from tests.integration.notifications.conftest import ADMIN, SECRET, Harness, identity_of, person
from tests.integration.notifications.test_mail_arrives import note

pytestmark = [pytest.mark.rabbitmq, pytest.mark.smtp]

BASE = "/casemesh/v1/notifications"


async def call(
    service: Harness, contract: Contract, method: str, template: str, who: Identity = ADMIN, **kw
):
    path = template.format(**kw.pop("path", {}))
    headers = identity_headers(who, SECRET)
    async with service.http.request(method, service.url + path, headers=headers, **kw) as r:
        raw = await r.read()
        body = await r.json() if raw else None
        contract.check(method, template, r.status, body, r.headers)
        return r.status, body


@pytest.fixture
async def contract(service: Harness) -> Contract:
    return await fetch_contract(service.http, service.url)


async def test_every_route_is_declared_and_every_declared_route_is_served(tmp_path):
    settings = Settings(mode="embedded", data_dir=tmp_path, internal_secret="s")
    app = create_app(settings, bus=InProcessBus(), owns_bus=False)
    assert_routes_match(app, build_fragment("notifications", operations()))


async def test_the_fragment_is_valid_openapi_and_json_schema(contract: Contract):
    fragment = contract.fragment
    assert_valid_fragment(fragment, "notifications")
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
