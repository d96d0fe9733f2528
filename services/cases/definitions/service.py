"""Process definitions of a workspace: create, list, get, update, delete.

Every write stores a validated ``ProcessDefinition`` (see parsing.py). An
update raises the revision by one and, when the caller names the revision it
read, is refused if the definition changed since (RevisionConflict). A
process cannot be deleted while cases of it exist (the check counts the
``cases`` collection; a case started between the count and the delete is not
caught, so the cases module should treat a missing definition as an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from casemesh.store.port import Document, DocumentStore, DuplicateKey, NotFound, VersionConflict
from services.cases.definitions.errors import (
    DefinitionExists,
    DefinitionInUse,
    DefinitionInvalid,
    DefinitionNotFound,
    RevisionConflict,
    not_found,
)
from services.cases.definitions.model import ProcessDefinition
from services.cases.definitions.store import DefinitionStore, document_id

SAVE_ATTEMPTS = 3


class Saved(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ProcessDefinitions:
    store: DefinitionStore

    @classmethod
    def over(cls, store: DocumentStore) -> ProcessDefinitions:
        return cls(DefinitionStore(store))

    async def create(
        self, workspace: str, definition: ProcessDefinition, *, user_uid: str
    ) -> Document:
        now = _now()
        doc = {
            "id": document_id(workspace, definition.uid),
            "workspace": workspace,
            "pro_uid": definition.uid,
            "definition": definition.model_dump(mode="json"),
            "revision": 1,
            "created_at": now,
            "created_by": user_uid,
            "updated_at": now,
            "updated_by": user_uid,
        }
        try:
            return await self.store.insert(doc)
        except DuplicateKey:
            raise DefinitionExists(
                f"the process {definition.uid!r} already exists in workspace {workspace!r}"
            ) from None

    async def list(self, workspace: str) -> Sequence[Document]:
        return await self.store.list(workspace)

    async def get(self, workspace: str, pro_uid: str) -> Document:
        doc = await self.store.get(workspace, pro_uid)
        if doc is None:
            raise not_found(workspace, pro_uid)
        return doc

    async def definition(self, workspace: str, pro_uid: str) -> ProcessDefinition:
        """The stored definition as the model, for the workflow engine."""
        doc = await self.get(workspace, pro_uid)
        return ProcessDefinition.model_validate(doc["definition"])

    async def update(
        self,
        workspace: str,
        pro_uid: str,
        definition: ProcessDefinition,
        *,
        user_uid: str,
        expected_revision: int | None = None,
    ) -> Document:
        if definition.uid != pro_uid:
            raise DefinitionInvalid(
                f"the definition's uid {definition.uid!r} is not the process {pro_uid!r}"
            )
        doc = await self.get(workspace, pro_uid)
        _check_revision(doc, expected_revision)
        changes = {
            "definition": definition.model_dump(mode="json"),
            "revision": doc["revision"] + 1,
            "updated_at": _now(),
            "updated_by": user_uid,
        }
        try:
            return await self.store.update(doc, changes)
        except (VersionConflict, NotFound):
            raise RevisionConflict(
                f"the process {pro_uid!r} changed while it was being saved; read it and retry"
            ) from None

    async def delete(
        self, workspace: str, pro_uid: str, *, expected_revision: int | None = None
    ) -> None:
        doc = await self.get(workspace, pro_uid)
        _check_revision(doc, expected_revision)
        cases = await self.store.count_cases(workspace, pro_uid)
        if cases:
            raise DefinitionInUse(
                f"the process {pro_uid!r} cannot be deleted: {cases} case(s) use it"
            )
        try:
            await self.store.delete(doc)
        except (VersionConflict, NotFound):
            raise RevisionConflict(
                f"the process {pro_uid!r} changed while it was being deleted; read it and retry"
            ) from None

    async def save(self, workspace: str, definition: ProcessDefinition, *, user_uid: str) -> Saved:
        """Create the process, or update it when its definition differs (the loader's write).

        Safe when several instances load the same folder at once: a write that
        loses the race is retried against what the winner stored.
        """
        wanted = definition.model_dump(mode="json")
        for _ in range(SAVE_ATTEMPTS):
            existing = await self.store.get(workspace, definition.uid)
            try:
                if existing is None:
                    await self.create(workspace, definition, user_uid=user_uid)
                    return Saved.CREATED
                if existing["definition"] == wanted:
                    return Saved.UNCHANGED
                await self.update(
                    workspace,
                    definition.uid,
                    definition,
                    user_uid=user_uid,
                    expected_revision=existing["revision"],
                )
                return Saved.UPDATED
            except (DefinitionExists, DefinitionNotFound, RevisionConflict):
                continue
        raise RevisionConflict(f"the process {definition.uid!r} keeps changing; not saved")


def _check_revision(doc: Document, expected: int | None) -> None:
    if expected is not None and expected != doc["revision"]:
        raise RevisionConflict(
            f"the process {doc['pro_uid']!r} is at revision {doc['revision']}, "
            f"not {expected}; read it again before changing it"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()
