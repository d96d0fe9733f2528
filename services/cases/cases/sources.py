"""The workflow's view of the directory and the process definitions, over the store."""

from __future__ import annotations

from collections.abc import Iterable

from casemesh.store.port import DocumentStore
from services.cases.cases.ports import People
from services.cases.definitions.errors import DefinitionNotFound
from services.cases.definitions.model import ProcessDefinition
from services.cases.definitions.service import ProcessDefinitions
from services.cases.directory import repository as directory


class StoredDefinitions:
    """Definitions as models, parsed once per revision."""

    def __init__(self, store: DocumentStore) -> None:
        self._service = ProcessDefinitions.over(store)
        self._store = store
        self._parsed: dict[tuple[str, str], tuple[int, ProcessDefinition]] = {}

    async def get(self, workspace: str, pro_uid: str) -> ProcessDefinition | None:
        try:
            doc = await self._service.get(workspace, pro_uid)
        except DefinitionNotFound:
            return None
        key = (workspace, pro_uid)
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == doc["revision"]:
            return cached[1]
        model = ProcessDefinition.model_validate(doc["definition"])
        self._parsed[key] = (doc["revision"], model)
        return model

    async def all(self, workspace: str) -> list[ProcessDefinition]:
        models = []
        for doc in await self._service.list(workspace):
            model = await self.get(workspace, doc["pro_uid"])
            if model is not None:
                models.append(model)
        return models

    async def category_exists(self, workspace: str, cat_uid: str) -> bool:
        for doc in await self._service.list(workspace):
            category = doc["definition"].get("category") or {}
            if category.get("uid") == cat_uid:
                return True
        return False


class StoredPeople:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def users(self, workspace: str, uids: Iterable[str]) -> dict[str, dict]:
        wanted = sorted({u for u in uids if u})
        found = await directory.get_users(self._store, workspace, wanted)
        return {user["usr_uid"]: user for user in found}

    async def group_members(self, workspace: str, group_uids: Iterable[str]) -> set[str]:
        members: set[str] = set()
        for grp_uid in set(group_uids):
            members |= set(await directory.member_uids(self._store, workspace, grp_uid))
        if not members:
            return members
        active = await self.users(workspace, members)
        return {uid for uid, user in active.items() if user.get("usr_status") == "ACTIVE"}

    async def groups_of(self, workspace: str, usr_uid: str) -> set[str]:
        return {g["grp_uid"] for g in await directory.groups_of(self._store, workspace, usr_uid)}


class CommandPeople:
    """One command's view of the directory: each user read at most once.

    A routing asked for the same users up to three times (the previous
    assignee, the task's pool, then everyone its events name), each a store
    read; within one command the answers may be shared, as the reads were
    never one snapshot anyway.
    """

    def __init__(self, people: People) -> None:
        self._people = people
        self._users: dict[tuple[str, str], dict | None] = {}

    async def users(self, workspace: str, uids: Iterable[str]) -> dict[str, dict]:
        wanted = {u for u in uids if u}
        missing = [u for u in wanted if (workspace, u) not in self._users]
        if missing:
            found = await self._people.users(workspace, missing)
            for uid in missing:
                self._users[(workspace, uid)] = found.get(uid)
        answer = {}
        for uid in wanted:
            user = self._users[(workspace, uid)]
            if user is not None:
                answer[uid] = user
        return answer

    async def group_members(self, workspace: str, group_uids: Iterable[str]) -> set[str]:
        return await self._people.group_members(workspace, group_uids)

    async def groups_of(self, workspace: str, usr_uid: str) -> set[str]:
        return await self._people.groups_of(workspace, usr_uid)
