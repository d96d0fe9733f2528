"""Per-user preferences: which kinds of notification a user wants (all, by default)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from casemesh.store.filters import In
from casemesh.store.port import DocumentStore
from services.notifications.kinds import KINDS

COLLECTION = "notification_preferences"


class Preferences:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def of(self, workspace: str, usr_uid: str) -> dict[str, bool]:
        doc = await self._store.get(COLLECTION, _doc_id(workspace, usr_uid))
        chosen = (doc or {}).get("kinds", {})
        return {kind: bool(chosen.get(kind, True)) for kind in KINDS}

    async def wants(self, workspace: str, usr_uid: str, kind: str) -> bool:
        return (await self.of(workspace, usr_uid))[kind]

    async def not_wanting(self, workspace: str, usr_uids: Iterable[str], kind: str) -> set[str]:
        """Which of ``usr_uids`` turned ``kind`` off: one read for them all."""
        ids = [_doc_id(workspace, u) for u in usr_uids]
        if not ids:
            return set()
        docs = await self._store.find(COLLECTION, In("id", ids))
        return {d["usr_uid"] for d in docs if not d.get("kinds", {}).get(kind, True)}

    async def change(
        self, workspace: str, usr_uid: str, changes: dict[str, bool]
    ) -> dict[str, bool]:
        """Set the given kinds on or off (others unchanged); answers the full set."""
        doc_id = _doc_id(workspace, usr_uid)
        stamp = datetime.now(UTC).isoformat()
        async with self._store.transaction() as tx:
            doc = await tx.get(COLLECTION, doc_id)
            if doc is None:
                await tx.insert(
                    COLLECTION,
                    {
                        "id": doc_id,
                        "workspace": workspace,
                        "usr_uid": usr_uid,
                        "kinds": changes,
                        "updated_at": stamp,
                    },
                )
            else:
                kinds = {**doc.get("kinds", {}), **changes}
                await tx.update(COLLECTION, doc_id, {"kinds": kinds, "updated_at": stamp})
        return await self.of(workspace, usr_uid)


def _doc_id(workspace: str, usr_uid: str) -> str:
    return f"{workspace}:{usr_uid}"
