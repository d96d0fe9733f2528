"""What the cases service knows about a case, asked for over HTTP when needed.

The notes service decides rights on its entries from these facts: the case's
participants, assignees, supervisors, process permissions and people.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from casemesh.events.cases import Person
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
    delegations: list[dict[str, Any]] = []
    people: dict[str, dict[str, str]] = {}
    delegation: dict[str, Any] | None = None

    def person(self, uid: str) -> Person:
        user = self.people.get(uid, {})
        first, last = user.get("usr_firstname", ""), user.get("usr_lastname", "")
        return Person(
            usr_uid=uid,
            username=user.get("usr_username", ""),
            name=f"{first} {last}".strip() or user.get("usr_username", ""),
            email=user.get("usr_email", ""),
        )

    def participant_people(self) -> list[Person]:
        return [self.person(uid) for uid in dict.fromkeys(self.participants) if uid]


class CasesClient:
    """GETs on the cases service's internal endpoints; ``None`` when there is no such case."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._base = settings.cases_url.rstrip("/")
        self._headers = internal_headers(settings)
        self._session = session

    async def by_uid(self, app_uid: str) -> CaseFacts | None:
        return await self._get(f"/internal/v1/cases/{quote(app_uid, safe='')}")

    async def by_number(self, workspace: str, app_number: int) -> CaseFacts | None:
        return await self._get(
            f"/internal/v1/workspaces/{quote(workspace, safe='')}/cases/{app_number}"
        )

    async def by_delegation(self, delegation_id: str) -> CaseFacts | None:
        return await self._get(f"/internal/v1/delegations/{quote(delegation_id, safe='')}")

    async def group_members(self, workspace: str, grp_uid: str) -> list[Person]:
        """The active members of a directory group (an update's access group)."""
        path = (
            f"/internal/v1/workspaces/{quote(workspace, safe='')}"
            f"/groups/{quote(grp_uid, safe='')}/members"
        )
        try:
            async with self._session.get(
                self._base + path, headers=self._headers, timeout=TIMEOUT
            ) as response:
                if response.status != 200:
                    raise ApiError(503, f"the cases service answered {response.status}")
                members = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(503, f"the cases service is unreachable: {exc}") from None
        return [
            Person(
                usr_uid=m["usr_uid"],
                username=m["usr_username"],
                name=f"{m['usr_firstname']} {m['usr_lastname']}".strip() or m["usr_username"],
                email=m["usr_email"],
            )
            for m in members
        ]

    async def _get(self, path: str) -> CaseFacts | None:
        try:
            async with self._session.get(
                self._base + path, headers=self._headers, timeout=TIMEOUT
            ) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise ApiError(503, f"the cases service answered {response.status}")
                return CaseFacts.model_validate(await response.json())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(503, f"the cases service is unreachable: {exc}") from None


def client_context(settings: Settings, key: web.AppKey[CasesClient]):
    """A cleanup_ctx that opens the HTTP session to the cases service and closes it."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[key] = CasesClient(settings, session)
            yield

    return lifecycle
