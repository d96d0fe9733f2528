"""The whole platform as `casemesh up` runs it: embedded adapters, one data folder."""

from __future__ import annotations

import uuid

import pytest

from casemesh.embedded import start_platform
from casemesh.settings import SERVICE_NAMES, Settings
from tests.e2e.flows import ADMIN_PASSWORD, login, send_ping, wait_answers, wait_ready


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        mode="embedded", data_dir=tmp_path / "data", port=0, admin_password=ADMIN_PASSWORD
    )


async def test_every_probe_answers_through_the_gateway(settings, http):
    platform = await start_platform(settings)
    try:
        gateway = platform.gateway_url
        ready = await wait_ready(http, gateway)
        assert set(ready["services"]) == set(SERVICE_NAMES)
        for name in SERVICE_NAMES:
            checks = ready["services"][name]["checks"]
            assert checks["database"] == "ok" and checks["bus"] == "ok"
            for probe in ("healthz", "readyz"):
                async with http.get(f"{gateway}/services/{name}/{probe}") as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["process"] == name
        assert ready["services"]["documents"]["checks"]["object_store"] == "ok"
        assert ready["services"]["notifications"]["checks"]["smtp"] == "ok"
        async with http.get(f"{gateway}/metrics") as r:
            text = await r.text()
            assert 'casemesh_http_requests_total{method="GET",process="gateway"' in text
    finally:
        await platform.stop()


async def test_event_round_trip_carries_the_request_id_and_survives_restart(settings, http):
    request_id = f"e2e-{uuid.uuid4().hex}"
    platform = await start_platform(settings)
    try:
        await wait_ready(http, platform.gateway_url)
        auth = await login(http, platform.gateway_url)
        ping = await send_ping(http, platform.gateway_url, request_id, auth)
        answered = await wait_answers(http, platform.gateway_url, ping["id"], auth)
        for answer in answered["answers"].values():
            assert answer["correlation_id"] == request_id
        async with http.get(f"{platform.urls['notes']}/metrics") as r:
            assert "casemesh_events_consumed_total" in await r.text()
    finally:
        await platform.stop()

    again = await start_platform(settings)
    try:
        await wait_ready(http, again.gateway_url)
        # The token survives the restart: tokens live in the cases service's database.
        url = f"{again.gateway_url}/casemesh/v1/pings/{ping['id']}"
        async with http.get(url, headers=auth) as r:
            assert r.status == 200
            assert set((await r.json())["answers"]) == set(answered["answers"])
    finally:
        await again.stop()


async def test_bad_input_gets_a_clear_json_error(settings, http):
    platform = await start_platform(settings)
    try:
        gateway = platform.gateway_url
        await wait_ready(http, gateway)
        async with http.post(f"{gateway}/casemesh/v1/pings", json={}) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        auth = await login(http, gateway)
        pings = f"{gateway}/casemesh/v1/pings"
        async with http.post(pings, data=b"{not json", headers=auth) as r:
            assert r.status == 400
            body = await r.json()
            assert body["status"] == 400 and "Invalid JSON" in body["message"]
        async with http.post(pings, json={"workspace": "../x"}, headers=auth) as r:
            assert r.status == 400
            assert "workspace" in (await r.json())["message"]
        async with http.get(f"{pings}/nope", headers=auth) as r:
            assert r.status == 404
            assert (await r.json())["message"] == "no ping nope"
    finally:
        await platform.stop()
