"""What every process promises: probes, JSON errors, start-up back-off, graceful stop."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from casemesh.bus.memory import InProcessBus
from casemesh.settings import Settings
from services.cases.app import create_app as create_cases
from services.notes.app import create_app as create_notes
from tests.fixtures.web import serving


def embedded(tmp_path, **overrides) -> Settings:
    return Settings(mode="embedded", data_dir=tmp_path, **overrides)


async def wait_status(http, url: str, status: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        async with http.get(url) as r:
            body = await r.json()
            if r.status == status or time.monotonic() > deadline:
                assert r.status == status, body
                return body
        await asyncio.sleep(0.05)


async def test_malformed_requests_get_json_errors_not_tracebacks(tmp_path, http):
    async with serving(create_cases(embedded(tmp_path))) as url:
        await wait_status(http, f"{url}/readyz", 200)
        async with http.post(f"{url}/casemesh/v1/pings", data=b"\xff\xfe{") as r:
            assert r.status == 400
            assert r.content_type == "application/json"
            assert "Traceback" not in await r.text()
        async with http.post(f"{url}/casemesh/v1/pings", json={"message": 5, "x": 1}) as r:
            assert r.status == 400
            message = (await r.json())["message"]
            assert "message" in message and "x" in message
        async with http.delete(f"{url}/casemesh/v1/pings") as r:
            assert r.status == 405
            assert (await r.json())["message"].startswith("method DELETE is not allowed")
        async with http.get(f"{url}/casemesh/v1/nothing") as r:
            assert r.status == 404
            assert (await r.json())["message"] == "no route for GET /casemesh/v1/nothing"
        async with http.post(f"{url}/casemesh/v1/pings", data=b"x" * (2 * 1024 * 1024)) as r:
            assert r.status == 413
            assert (await r.json())["message"] == "the request body is too large"
        async with http.get(f"{url}/api/1.0/workflow/nothing") as r:
            assert (await r.json())["error"]["message"].startswith("Not Found: no route")


async def test_request_ids_are_kept_when_valid_and_replaced_when_not(tmp_path, http):
    async with serving(create_cases(embedded(tmp_path))) as url:
        async with http.get(f"{url}/healthz", headers={"X-Request-ID": "abc-123"}) as r:
            assert r.headers["X-Request-ID"] == "abc-123"
        async with http.get(f"{url}/healthz", headers={"X-Request-ID": "bad id\t<x>"}) as r:
            assert r.headers["X-Request-ID"] not in ("", "bad id\t<x>")
            assert len(r.headers["X-Request-ID"]) == 32


async def test_unreachable_database_means_not_ready_then_recovers(tmp_path, http):
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database folder should be")
    async with serving(create_cases(embedded(tmp_path))) as url:
        body = await wait_status(http, f"{url}/readyz", 503)
        assert body["status"] == "not ready"
        assert body["checks"]["database"] != "ok"
        async with http.post(f"{url}/casemesh/v1/pings", json={}) as r:
            assert r.status == 503
            assert r.headers["Retry-After"] == "2"
            assert "cases service is not ready" in (await r.json())["message"]
        async with http.get(f"{url}/healthz") as r:
            assert r.status == 200  # alive, just not ready
        blocker.unlink()
        body = await wait_status(http, f"{url}/readyz", 200, timeout=20)
        assert body["checks"] == {"database": "ok", "bus": "ok"}
        async with http.post(f"{url}/casemesh/v1/pings", json={}) as r:
            assert r.status == 201


async def test_unreachable_broker_is_reported_by_readyz(tmp_path, http):
    settings = embedded(
        tmp_path, bus_backend="rabbitmq", amqp_url="amqp://guest:guest@127.0.0.1:1/"
    )
    async with serving(create_notes(settings)) as url:
        body = await wait_status(http, f"{url}/readyz", 503)
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["bus"] != "ok"
        assert "startup" in body["checks"]


async def test_graceful_shutdown_finishes_in_flight_requests(tmp_path, http):
    app = create_cases(embedded(tmp_path), bus=InProcessBus())
    finished = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        finished.set()
        return web.json_response({"done": True})

    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    await wait_status(http, f"http://{host}:{port}/readyz", 200)
    request = asyncio.create_task(http.get(f"http://{host}:{port}/slow"))
    await asyncio.sleep(0.1)
    await runner.cleanup()
    response = await request
    assert response.status == 200
    assert await response.json() == {"done": True}
    assert finished.is_set()
