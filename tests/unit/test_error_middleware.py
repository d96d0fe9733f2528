"""The JSON error middleware: a caller that went away is not an error of ours; a bug is."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from casemesh.web.middleware import json_errors
from tests.fixtures.web import serving


def app_raising(exc: Exception) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/x", handler)
    return app


async def test_a_client_gone_mid_request_is_logged_quietly(http: aiohttp.ClientSession, caplog):
    caplog.set_level(logging.INFO, logger="casemesh")
    async with serving(app_raising(ConnectionResetError("Connection lost"))) as url:
        async with http.get(f"{url}/x") as r:
            assert r.status == 400
            assert "closed the connection" in (await r.json())["error"]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("closed the connection" in r.getMessage() for r in caplog.records)


async def test_an_unexpected_error_is_a_500_and_logged_with_its_traceback(
    http: aiohttp.ClientSession, caplog
):
    async with serving(app_raising(RuntimeError("boom"))) as url:
        async with http.get(f"{url}/x") as r:
            assert r.status == 500
            assert (await r.json())["error"]["message"].endswith("an unexpected error occurred")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info and "boom" in str(errors[0].exc_info[1])
