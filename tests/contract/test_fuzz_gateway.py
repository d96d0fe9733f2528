"""Schemathesis against the live gateway: every operation of its OpenAPI document, signed in.

A real embedded platform serves the document; a few real records (cases, a
user, a group, a role, a ping) are made first and offered to the fuzzer as
values for the matching path parameters, so generated requests reach real
objects as well as missing ones. Checks: no 5xx (``not_a_server_error``),
every answer matches its declared schema (``response_schema_conformance``),
and every request answers within ``REQUEST_TIMEOUT`` seconds (schemathesis
reports a timed-out request as a failure). The end of the pytest report says
how many generated requests ran.

Runs in the normal suite; select it alone with ``pytest -m fuzz`` or by path.
``CASEMESH_FUZZ_EXAMPLES`` sets the examples per operation (default below).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.contract.conftest import FUZZ_SUMMARY
from tests.e2e.flows import login
from tests.fixtures.embedded import embedded_platform

PROCESS = "a1000000000000000000000000000000"
FIRST_TASK = "a1000000000000000000000000000001"
MAX_EXAMPLES = int(os.environ.get("CASEMESH_FUZZ_EXAMPLES", "6"))
REQUEST_TIMEOUT = 10
RUN_TIMEOUT = 400
CHECKS = "not_a_server_error,response_schema_conformance"
ST = Path(sys.executable).with_name("st")

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(RUN_TIMEOUT + 60)]


async def _post(http: aiohttp.ClientSession, url: str, auth: dict, body: dict) -> dict:
    async with http.post(url, json=body, headers=auth) as r:
        assert r.status in (200, 201), f"{url}: {r.status} {await r.text()}"
        return await r.json()


async def _seed(http: aiohttp.ClientSession, gateway: str, auth: dict) -> dict[str, list[str]]:
    """Real records whose ids the fuzzer may use, by path parameter name."""
    pm = f"{gateway}/api/1.0/workflow"
    start = {"pro_uid": PROCESS, "tas_uid": FIRST_TASK}
    cases = [(await _post(http, f"{pm}/cases", auth, start))["app_uid"] for _ in range(3)]
    suffix = uuid.uuid4().hex[:8]
    user = await _post(
        http,
        f"{pm}/user",
        auth,
        {
            "usr_username": f"fuzz{suffix}",
            "usr_firstname": "Fuzz",
            "usr_lastname": "Target",
            "usr_email": f"fuzz{suffix}@example.com",
            "usr_new_pass": "fuzz-password-1",
        },
    )
    group = await _post(http, f"{pm}/group", auth, {"grp_title": f"Fuzz {suffix}"})
    role = await _post(
        http, f"{pm}/role", auth, {"rol_code": f"FUZZ_{suffix.upper()}", "rol_name": "Fuzz"}
    )
    ping = await _post(http, f"{gateway}/casemesh/v1/pings", auth, {"message": "fuzz"})
    return {
        "app_uid": cases,
        "pro_uid": [PROCESS],
        "usr_uid": [user["usr_uid"]],
        "grp_uid": [group["grp_uid"]],
        "rol_uid": [role["rol_uid"]],
        "ping_id": [ping["id"]],
    }


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings and lists of strings are valid TOML


def _config(seeds: dict[str, list[str]]) -> str:
    lines = ["[parameters]", f'"path.workspace" = {_toml("workflow")}']
    for name in seeds:
        lines.append(f'"path.{name}" = {{ dictionary = {_toml(name)}, probability = 0.7 }}')
    for name, values in seeds.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}"]
    return "\n".join(lines) + "\n"


async def test_fuzz_every_operation_of_the_gateway(tmp_path, request):
    async with embedded_platform(tmp_path / "data") as platform:
        gateway = platform.gateway_url
        async with aiohttp.ClientSession() as http:
            auth = await login(http, gateway)
            seeds = await _seed(http, gateway, auth)
            async with http.get(f"{gateway}/openapi.json") as r:
                document = await r.json()
        assert "x-casemesh-unavailable" not in document, "a service gave no contract"
        # Schemathesis counts a path with and without a trailing slash as one operation.
        declared = len(
            {(m, path.rstrip("/")) for path, methods in document["paths"].items() for m in methods}
        )
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(seeds))
        report = tmp_path / "report.json"
        process = await asyncio.create_subprocess_exec(
            str(ST),
            "--config-file",
            str(config),
            "run",
            f"{gateway}/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--request-timeout",
            str(REQUEST_TIMEOUT),
            "--header",
            f"Authorization: {auth['Authorization']}",
            # One worker: hypothesis's lambda descriptions call ast.parse, which CPython 3.11
            # does not make thread-safe ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"the fuzz run took longer than {RUN_TIMEOUT}s") from None
    text = output.decode("utf-8", "replace")
    print(text)
    assert report.exists(), text[-20000:]
    results = json.loads(report.read_text())
    summary = _summary(results)
    request.config.stash[FUZZ_SUMMARY].append(summary)
    print(summary)
    assert process.returncode == 0, text[-20000:]
    # Every declared operation was exercised, each with more than a token handful of requests.
    assert results["operations"]["tested"] == results["operations"]["total"] == declared
    assert results["test_cases"]["generated"] >= 10 * declared, summary


def _summary(report: dict) -> str:
    """One line: how many generated requests ran, over how many operations, with what result."""
    cases, operations = report["test_cases"], report["operations"]
    phases = ", ".join(f"{name} {p['status']}" for name, p in report["phases"].items())
    return (
        f"{cases['generated']} generated requests over {operations['tested']}/"
        f"{operations['total']} operations in {report['running_time']:.0f}s "
        f"({phases}); {cases['with_failures']} failed, "
        f"{sum(e['count'] for e in report['errors'])} errors; seed {report['seed']}"
    )
