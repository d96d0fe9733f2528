"""What the cases service knows about a case, asked for over HTTP when needed.

Case facts (participants, assignees, supervisors, process permissions, the
input/output document definitions, people) come from the cases service's
internal endpoint. Variables and the case's dates come from its public API,
called with the caller's own signed identity, so the caller's rights apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from casemesh.identity import IDENTITY_HEADER, SIGNATURE_HEADER
from casemesh.internal import internal_headers
from casemesh.settings import Settings
from casemesh.web.errors import ApiError

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)


class CaseFacts(BaseModel):
    model_config = ConfigDict(extra="ignore")

    workspace: str
    app_uid: str
    app_number: int
    app_title: str = ""
    app_status: str = ""
    pro_uid: str = ""
    participants: list[str] = []
    supervisors: list[str] = []
    permissions: list[dict[str, Any]] = []
    input_documents: list[dict[str, Any]] = []
    output_documents: list[dict[str, Any]] = []
    delegations: list[dict[str, Any]] = []
    people: dict[str, dict[str, str]] = {}

    def input_document(self, uid: str) -> dict | None:
        return next((d for d in self.input_documents if d.get("uid") == uid), None)

    def output_document(self, uid: str) -> dict | None:
        return next((d for d in self.output_documents if d.get("uid") == uid), None)

    def delegation(self, del_index: int) -> dict | None:
        return next((d for d in self.delegations if d.get("del_index") == del_index), None)


class CasesClient:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._base = settings.cases_url.rstrip("/")
        self._internal = internal_headers(settings)
        self._session = session

    async def facts(self, app_uid: str) -> CaseFacts | None:
        body = await self._get(f"/internal/v1/cases/{quote(app_uid, safe='')}", self._internal)
        return None if body is None else CaseFacts.model_validate(body)

    async def public(self, request: web.Request, workspace: str, path: str) -> dict | None:
        """GET a case resource of the public API as the caller of ``request``."""
        headers = {
            name: request.headers[name]
            for name in (IDENTITY_HEADER, SIGNATURE_HEADER)
            if name in request.headers
        }
        return await self._get(f"/api/1.0/{quote(workspace, safe='')}{path}", headers)

    async def _get(self, path: str, headers: dict[str, str]) -> dict | None:
        try:
            async with self._session.get(
                self._base + path, headers=headers, timeout=TIMEOUT
            ) as response:
                if response.status in (400, 404):
                    return None
                if response.status != 200:
                    raise ApiError(503, f"the cases service answered {response.status}")
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(503, f"the cases service is unreachable: {exc}") from None


def client_context(settings: Settings, key: web.AppKey[CasesClient]):
    """A cleanup_ctx that opens the HTTP session to the cases service and closes it."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[key] = CasesClient(settings, session)
            yield

    return lifecycle
