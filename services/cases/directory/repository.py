"""Directory records over the document-store port: workspaces, users, groups, roles.

Every record's id starts with its workspace (``<workspace>:<uid>``), so a
lookup by uid can only ever find a record of the workspace it names. No rules
live here: callers decide what may be written.
"""

from __future__ import annotations

from collections.abc import Sequence

from casemesh.store.filters import And, Contains, Eq, Filter, In, Not, Or, Sort
from casemesh.store.port import Document, DocumentStore, Index

WORKSPACES = "workspaces"
USERS = "users"
GROUPS = "groups"
MEMBERS = "group_members"
ROLES = "roles"

INDEXES: dict[str, Sequence[Index]] = {
    USERS: (
        Index(("workspace", "usr_username"), unique=True),
        Index(("workspace", "usr_role")),
        Index(("workspace", "created_at")),
    ),
    GROUPS: (Index(("workspace", "grp_title"), unique=True),),
    MEMBERS: (Index(("workspace", "grp_uid")), Index(("workspace", "usr_uid"))),
    ROLES: (Index(("workspace", "rol_code"), unique=True),),
}


def record_id(workspace: str, *uids: str) -> str:
    return ":".join((workspace, *uids))


def _in(workspace: str, *parts: Filter) -> Filter:
    return And(Eq("workspace", workspace), *parts)


def _text(fields: Sequence[str], text: str) -> tuple[Filter, ...]:
    return (Or(*(Contains(f, text) for f in fields)),) if text else ()


# -- workspaces -------------------------------------------------------------------


async def get_workspace(store: DocumentStore, name: str) -> Document | None:
    return await store.get(WORKSPACES, name)


async def create_workspace(
    store: DocumentStore, workspace: Document, roles: Sequence[Document]
) -> None:
    """A workspace and its built-in roles, together (DuplicateKey if it exists)."""
    async with store.transaction() as tx:
        await tx.insert(WORKSPACES, workspace)
        for role in roles:
            await tx.insert(ROLES, role)


async def create_admin(
    store: DocumentStore, workspace: str, user: Document, marked_at: str
) -> None:
    """The first administrator, and the workspace's note that it was made."""
    async with store.transaction() as tx:
        await tx.update(WORKSPACES, workspace, {"admin_created_at": marked_at})
        await tx.insert(USERS, user)


# -- users ------------------------------------------------------------------------


async def get_user(store: DocumentStore, workspace: str, usr_uid: str) -> Document | None:
    return await store.get(USERS, record_id(workspace, usr_uid))


async def get_users(
    store: DocumentStore, workspace: str, usr_uids: Sequence[str]
) -> list[Document]:
    if not usr_uids:
        return []
    return await store.find(USERS, _in(workspace, In("usr_uid", tuple(usr_uids))))


async def find_user_by_username(
    store: DocumentStore, workspace: str, username: str
) -> Document | None:
    found = await store.find(USERS, _in(workspace, Eq("usr_username", username)), limit=1)
    return found[0] if found else None


async def list_users(
    store: DocumentStore,
    workspace: str,
    *,
    statuses: Sequence[str] = (),
    text: str = "",
    only: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    skip: int = 0,
    limit: int | None = None,
) -> list[Document]:
    parts: list[Filter] = list(_text(("usr_username", "usr_firstname", "usr_lastname"), text))
    if statuses:
        parts.append(In("usr_status", tuple(statuses)))
    if only is not None:
        parts.append(In("usr_uid", tuple(only)))
    if exclude:
        parts.append(Not(In("usr_uid", tuple(exclude))))
    order = (Sort("created_at"), Sort("usr_uid"))
    return await store.find(USERS, _in(workspace, *parts), sort=order, skip=skip, limit=limit)


async def count_users_with_role(store: DocumentStore, workspace: str, rol_code: str) -> int:
    return await store.count(USERS, _in(workspace, Eq("usr_role", rol_code)))


async def users_with_role(store: DocumentStore, workspace: str, rol_code: str) -> list[Document]:
    order = (Sort("created_at"), Sort("usr_uid"))
    return await store.find(USERS, _in(workspace, Eq("usr_role", rol_code)), sort=order)


async def insert_user(store: DocumentStore, user: Document) -> Document:
    return await store.insert(USERS, user)


async def update_user(
    store: DocumentStore, workspace: str, usr_uid: str, changes: Document
) -> Document:
    return await store.update(USERS, record_id(workspace, usr_uid), changes)


async def delete_user(
    store: DocumentStore, workspace: str, usr_uid: str, dependents: dict[str, list[str]]
) -> None:
    """Delete a user and, in the same write, the records that belong to it."""
    async with store.transaction() as tx:
        for collection, ids in dependents.items():
            for doc_id in ids:
                if await tx.get(collection, doc_id) is not None:
                    await tx.delete(collection, doc_id)
        await tx.delete(USERS, record_id(workspace, usr_uid))


# -- groups -----------------------------------------------------------------------


async def get_group(store: DocumentStore, workspace: str, grp_uid: str) -> Document | None:
    return await store.get(GROUPS, record_id(workspace, grp_uid))


async def list_groups(
    store: DocumentStore, workspace: str, *, text: str = "", skip: int = 0, limit: int | None = None
) -> list[Document]:
    where = _in(workspace, *_text(("grp_title",), text))
    return await store.find(GROUPS, where, sort=(Sort("grp_title"),), skip=skip, limit=limit)


async def insert_group(store: DocumentStore, group: Document) -> Document:
    return await store.insert(GROUPS, group)


async def update_group(
    store: DocumentStore, workspace: str, grp_uid: str, changes: Document
) -> Document:
    return await store.update(GROUPS, record_id(workspace, grp_uid), changes)


async def delete_group(store: DocumentStore, workspace: str, grp_uid: str) -> None:
    members = await store.find(MEMBERS, _in(workspace, Eq("grp_uid", grp_uid)))
    async with store.transaction() as tx:
        for member in members:
            await tx.delete(MEMBERS, member["id"])
        await tx.delete(GROUPS, record_id(workspace, grp_uid))


# -- group members ----------------------------------------------------------------


async def member_uids(store: DocumentStore, workspace: str, grp_uid: str) -> list[str]:
    members = await store.find(MEMBERS, _in(workspace, Eq("grp_uid", grp_uid)))
    return [m["usr_uid"] for m in members]


async def count_members(store: DocumentStore, workspace: str, grp_uid: str) -> int:
    return await store.count(MEMBERS, _in(workspace, Eq("grp_uid", grp_uid)))


async def memberships(store: DocumentStore, workspace: str, usr_uid: str) -> list[Document]:
    return await store.find(MEMBERS, _in(workspace, Eq("usr_uid", usr_uid)))


async def add_member(store: DocumentStore, member: Document) -> Document:
    """Raises DuplicateKey if the user is in the group already."""
    return await store.insert(MEMBERS, member)


async def remove_member(store: DocumentStore, workspace: str, grp_uid: str, usr_uid: str) -> None:
    """Raises NotFound if the user is not in the group."""
    await store.delete(MEMBERS, record_id(workspace, grp_uid, usr_uid))


async def groups_of(store: DocumentStore, workspace: str, usr_uid: str) -> list[Document]:
    grp_uids = [m["grp_uid"] for m in await memberships(store, workspace, usr_uid)]
    if not grp_uids:
        return []
    return await store.find(GROUPS, _in(workspace, In("grp_uid", tuple(grp_uids))))


# -- roles ------------------------------------------------------------------------


async def get_role(store: DocumentStore, workspace: str, rol_uid: str) -> Document | None:
    return await store.get(ROLES, record_id(workspace, rol_uid))


async def find_role_by_code(store: DocumentStore, workspace: str, rol_code: str) -> Document | None:
    found = await store.find(ROLES, _in(workspace, Eq("rol_code", rol_code)), limit=1)
    return found[0] if found else None


async def list_roles(
    store: DocumentStore, workspace: str, *, text: str = "", skip: int = 0, limit: int | None = None
) -> list[Document]:
    where = _in(workspace, *_text(("rol_code",), text))
    order = (Sort("created_at"), Sort("rol_code"))
    return await store.find(ROLES, where, sort=order, skip=skip, limit=limit)


async def insert_role(store: DocumentStore, role: Document) -> Document:
    return await store.insert(ROLES, role)


async def update_role(
    store: DocumentStore,
    workspace: str,
    rol_uid: str,
    changes: Document,
    *,
    expected_version: int | None = None,
) -> Document:
    doc_id = record_id(workspace, rol_uid)
    return await store.update(ROLES, doc_id, changes, expected_version=expected_version)


async def delete_role(store: DocumentStore, workspace: str, rol_uid: str) -> None:
    await store.delete(ROLES, record_id(workspace, rol_uid))
