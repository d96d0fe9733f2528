"""What the case workflow needs from the rest of the cases service.

The directory and the process definitions live in the same service; these
small protocols keep the workflow code independent of how they are stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from services.cases.definitions.model import ProcessDefinition


class Definitions(Protocol):
    async def get(self, workspace: str, pro_uid: str) -> ProcessDefinition | None: ...

    async def category_exists(self, workspace: str, cat_uid: str) -> bool: ...

    async def all(self, workspace: str) -> list[ProcessDefinition]: ...


class People(Protocol):
    async def users(self, workspace: str, uids: Iterable[str]) -> dict[str, dict]:
        """Users by uid with ``usr_username``, ``usr_firstname``, ``usr_lastname``,
        ``usr_email``, ``usr_status`` and ``usr_reports_to``; unknown uids are absent."""

    async def group_members(self, workspace: str, group_uids: Iterable[str]) -> set[str]:
        """Uids of the active users in any of these groups."""

    async def groups_of(self, workspace: str, usr_uid: str) -> set[str]: ...
