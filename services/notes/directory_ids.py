"""Integer ids for directory groups and users, as Trackops clients expect them.

The directory names groups and users by 32-character uids; Trackops names
access groups, creators and ``behalf_of`` users by integers. This registry
gives each (workspace, kind, uid) an integer from the store's counters the
first time the notes service sees it: a caller's groups and the caller
themself are registered on every Trackops request, so
``GET /api/v1/case/updates/access-groups`` lists the numbers a caller may use.
"""

from __future__ import annotations

from casemesh.store.filters import And, Eq, In
from casemesh.store.port import DocumentStore, DuplicateKey, Index

DIRECTORY_IDS = "directory_ids"
GROUP, USER = "group", "user"
INDEXES = {DIRECTORY_IDS: (Index(("workspace", "kind", "number")),)}


def _key(workspace: str, kind: str, uid: str) -> str:
    return f"{kind}:{workspace}:{uid}"


async def register(store: DocumentStore, workspace: str, kind: str, uids: list[str]) -> dict:
    """uid -> integer for each uid, registering the ones not seen yet."""
    out: dict[str, int] = {}
    for uid in uids:
        doc = await store.get(DIRECTORY_IDS, _key(workspace, kind, uid))
        if doc is None:
            try:
                async with store.transaction() as tx:
                    number = await tx.next_value(f"{kind}_id", workspace)
                    doc = await tx.insert(
                        DIRECTORY_IDS,
                        {
                            "id": _key(workspace, kind, uid),
                            "workspace": workspace,
                            "kind": kind,
                            "uid": uid,
                            "number": number,
                        },
                    )
            except DuplicateKey:  # registered meanwhile by another request
                doc = await store.get(DIRECTORY_IDS, _key(workspace, kind, uid))
        assert doc is not None
        out[uid] = doc["number"]
    return out


async def uid_of(store: DocumentStore, workspace: str, kind: str, number: int) -> str | None:
    docs = await store.find(
        DIRECTORY_IDS,
        And(Eq("workspace", workspace), Eq("kind", kind), Eq("number", number)),
        limit=1,
    )
    return docs[0]["uid"] if docs else None


async def numbers_of(store: DocumentStore, workspace: str, kind: str, uids: set[str]) -> dict:
    """uid -> integer for the registered ones among ``uids``."""
    if not uids:
        return {}
    docs = await store.find(
        DIRECTORY_IDS,
        And(Eq("workspace", workspace), Eq("kind", kind), In("uid", tuple(uids))),
    )
    return {d["uid"]: d["number"] for d in docs}


async def all_of(store: DocumentStore, workspace: str, kind: str) -> dict:
    docs = await store.find(DIRECTORY_IDS, And(Eq("workspace", workspace), Eq("kind", kind)))
    return {d["uid"]: d["number"] for d in docs}
