"""A ProcessMaker 3 client, as the seed's PHP and JavaScript examples drive it, through the gateway.

Bodies are sent the way those examples send them: PHP's http_build_query()
form encoding (bracket notation for the variables) and JSON for JavaScript.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.fixtures.embedded import embedded_platform

PROCESS = "a1000000000000000000000000000000"
FIRST_TASK = "a1000000000000000000000000000001"
PASSWORD = "e2e-admin-password"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def gateway(tmp_path):
    async with embedded_platform(tmp_path, admin_password=PASSWORD) as platform:
        yield platform.gateway_url


async def token(http: aiohttp.ClientSession, gateway: str) -> str:
    body = urlencode(
        {
            "grant_type": "password",
            "scope": "*",
            "client_id": "casemesh",
            "client_secret": "casemesh-secret",
            "username": "admin",
            "password": PASSWORD,
        }
    )
    async with http.post(f"{gateway}/workflow/oauth2/token", data=body, headers=FORM) as r:
        assert r.status == 200, await r.text()
        answer = await r.json()
    assert answer["token_type"].lower() == "bearer" and answer["expires_in"] == 86400
    return answer["access_token"]


async def test_php_client_creates_routes_and_lists_a_case(gateway):
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {await token(http, gateway)}"}
        base = f"{gateway}/api/1.0/workflow"
        # $aVars = array('pro_uid' => …, 'tas_uid' => …, 'variables' => array(array(…)));
        body = (
            f"pro_uid={PROCESS}&tas_uid={FIRST_TASK}"
            "&variables%5B0%5D%5Bclient%5D=Acme+Inc."
            "&variables%5B0%5D%5Bamount%5D=23456.99"
            "&variables%5B0%5D%5BhasContract%5D%5B0%5D=1"
            "&variables%5B0%5D%5BcontactsGrid%5D%5B1%5D%5BfullName%5D=Jane+Doe"
            "&variables%5B0%5D%5BcontactsGrid%5D%5B2%5D%5BfullName%5D=Bill+Hill"
        )
        async with http.post(f"{base}/cases", data=body, headers={**auth, **FORM}) as r:
            assert r.status == 200, await r.text()
            created = await r.json()
        case_id = created["app_uid"]
        async with http.get(f"{base}/cases/{case_id}/variables", headers=auth) as r:
            variables = await r.json()
        assert variables["client"] == "Acme Inc." and variables["amount"] == "23456.99"
        assert variables["hasContract"] == ["1"]
        assert variables["contactsGrid"] == {
            "1": {"fullName": "Jane Doe"},
            "2": {"fullName": "Bill Hill"},
        }

        # foreach ($oPage->data as $oCase) print "… due {$oCase->del_task_due_date}"
        async with http.get(f"{base}/cases/paged", headers=auth) as r:
            page = await r.json()
        assert page["total"] == 1 and page["data"][0]["app_uid"] == case_id
        assert page["data"][0]["app_number"] == str(created["app_number"])

        for _ in range(4):  # request -> review -> director (23456.99 > 1000) -> payment -> END
            async with http.put(
                f"{base}/cases/{case_id}/route-case", data="", headers={**auth, **FORM}
            ) as r:
                assert r.status == 200, await r.text()
                assert await r.read() == b""
        async with http.get(f"{base}/cases/{case_id}", headers=auth) as r:
            info = await r.json()
        assert info["app_status"] == "COMPLETED"
        async with http.get(f"{base}/cases/participated", headers=auth) as r:
            assert [c["app_status"] for c in await r.json()] == ["COMPLETED"]


async def test_javascript_client_and_errors_in_processmaker_shape(gateway):
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {await token(http, gateway)}"}
        base = f"{gateway}/api/1.0/workflow"
        async with http.post(f"{base}/cases", json={"pro_uid": PROCESS}, headers=auth) as r:
            assert r.status == 400
            assert await r.json() == {
                "error": {"code": 400, "message": "Bad Request: `tas_uid` is required but missing."}
            }
        async with http.get(f"{base}/cases") as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == 401
        async with http.get(f"{gateway}/api/1.0/otherws/cases", headers=auth) as r:
            assert r.status == 401
        async with http.post(
            f"{base}/cases",
            json={"pro_uid": PROCESS, "tas_uid": FIRST_TASK, "variables": [{"amount": 10}]},
            headers=auth,
        ) as r:
            case_id = (await r.json())["app_uid"]
        async with http.put(
            f"{base}/cases/{case_id}/pause", json={"unpaused_date": "2999-12-31"}, headers=auth
        ) as r:
            assert r.status == 200
        async with http.get(f"{base}/cases/paused/paged", headers=auth) as r:
            assert (await r.json())["total"] == 1
        basic = {
            "Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        }
        async with http.put(f"{base}/cases/{case_id}/unpause", json={}, headers=basic) as r:
            assert r.status == 200, await r.text()
        async with http.get(f"{base}/cases/{case_id}", headers=basic) as r:
            assert (await r.json())["app_status"] == "TO_DO"
