"""Roles and the permissions they hold.

Built-in roles exist in every workspace. PROCESSMAKER_ADMIN always holds every
permission and cannot be changed; other roles can be given and denied
permissions. Users name their role by its code (``usr_role``).
"""

from __future__ import annotations

from datetime import datetime

from casemesh.store.port import Document, DuplicateKey, VersionConflict
from casemesh.web.errors import ApiError
from services.cases.directory import clock, repository, views
from services.cases.directory.catalogue import (
    ADMIN_ROLE,
    BUILT_IN_ROLES,
    PERMISSIONS,
    SYSTEM_UID,
    BuiltInRole,
    find_permission,
)
from services.cases.directory.context import Directory
from services.cases.directory.credentials import new_uid
from services.cases.directory.schemas import (
    MemberAdd,
    PageQuery,
    PermissionAssign,
    RoleCreate,
    RoleUpdate,
)
from services.cases.directory.users import load as load_user

BUILT_IN_CODES = frozenset(r.code for r in BUILT_IN_ROLES)
UPDATE_ATTEMPTS = 3


def built_in_role_document(workspace: str, role: BuiltInRole, moment: datetime) -> Document:
    return {
        "id": repository.record_id(workspace, role.uid),
        "workspace": workspace,
        "rol_uid": role.uid,
        "rol_code": role.code,
        "rol_name": role.name,
        "rol_status": "ACTIVE",
        "rol_system": SYSTEM_UID,
        "rol_create_date": clock.iso(moment),
        "rol_update_date": "",
        "permissions": list(role.permissions),
        "created_at": clock.stamp(moment),
    }


async def load(d: Directory, workspace: str, rol_uid: str) -> Document:
    doc = await repository.get_role(d.store, workspace, rol_uid)
    if doc is None:
        raise ApiError(400, f"The role with rol_uid: {rol_uid} does not exist.")
    return doc


async def _view(d: Directory, doc: Document) -> dict:
    total = await repository.count_users_with_role(d.store, doc["workspace"], doc["rol_code"])
    return views.role(doc, total)


async def list_roles(d: Directory, workspace: str, query: PageQuery) -> list[dict]:
    docs = await repository.list_roles(
        d.store, workspace, text=query.filter, skip=query.start, limit=query.limit
    )
    return [await _view(d, doc) for doc in docs]


async def get_role(d: Directory, workspace: str, rol_uid: str) -> dict:
    return await _view(d, await load(d, workspace, rol_uid))


async def create_role(d: Directory, workspace: str, body: RoleCreate) -> dict:
    rol_uid = new_uid()
    moment = clock.now()
    doc = {
        "id": repository.record_id(workspace, rol_uid),
        "workspace": workspace,
        "rol_uid": rol_uid,
        "rol_code": body.rol_code,
        "rol_name": body.rol_name,
        "rol_status": body.rol_status,
        "rol_system": SYSTEM_UID,
        "rol_create_date": clock.iso(moment),
        "rol_update_date": "",
        "permissions": [],
        "created_at": clock.stamp(moment),
    }
    try:
        saved = await repository.insert_role(d.store, doc)
    except DuplicateKey:
        raise _taken(body.rol_code) from None
    return views.role(saved, 0)


async def update_role(d: Directory, workspace: str, rol_uid: str, body: RoleUpdate) -> None:
    doc = await load(d, workspace, rol_uid)
    changes = body.given()
    if not changes:
        raise ApiError(400, "the request has no field to change")
    if doc["rol_code"] == ADMIN_ROLE:
        raise ApiError(400, f"The role {ADMIN_ROLE} cannot be changed.")
    if changes.get("rol_code", doc["rol_code"]) != doc["rol_code"]:
        if doc["rol_code"] in BUILT_IN_CODES:
            raise ApiError(400, f"The code of the built-in role {doc['rol_code']} cannot change.")
        if await repository.count_users_with_role(d.store, workspace, doc["rol_code"]):
            raise ApiError(400, "The code of a role that has users cannot change.")
    changes["rol_update_date"] = clock.iso(clock.now())
    try:
        await repository.update_role(d.store, workspace, rol_uid, changes)
    except DuplicateKey:
        raise _taken(changes.get("rol_code", "")) from None


async def delete_role(d: Directory, workspace: str, rol_uid: str) -> None:
    doc = await load(d, workspace, rol_uid)
    if doc["rol_code"] in BUILT_IN_CODES:
        raise ApiError(400, f"The built-in role {doc['rol_code']} cannot be deleted.")
    if await repository.count_users_with_role(d.store, workspace, doc["rol_code"]):
        raise ApiError(400, f"The role {doc['rol_code']} cannot be deleted while it has users.")
    await repository.delete_role(d.store, workspace, rol_uid)


async def permissions(d: Directory, workspace: str, rol_uid: str, *, held: bool) -> list[dict]:
    """The permissions the role holds (``held``) or could be given."""
    codes = set((await load(d, workspace, rol_uid))["permissions"])
    return [views.permission(p) for p in PERMISSIONS if (p.code in codes) == held]


async def grant_permission(
    d: Directory, workspace: str, rol_uid: str, body: PermissionAssign
) -> None:
    wanted = find_permission(body.per_uid or body.per_code)
    if wanted is None:
        raise ApiError(400, f"The permission {body.per_uid or body.per_code} does not exist.")

    def add(codes: list[str]) -> list[str]:
        if wanted.code in codes:
            raise ApiError(400, f"The permission {wanted.code} is already assigned to the role.")
        return [*codes, wanted.code]

    await _change_permissions(d, workspace, rol_uid, add)


async def deny_permission(d: Directory, workspace: str, rol_uid: str, per_key: str) -> None:
    unwanted = find_permission(per_key)

    def remove(codes: list[str]) -> list[str]:
        if unwanted is None or unwanted.code not in codes:
            raise ApiError(400, f"The permission {per_key} is not assigned to the role.")
        return [c for c in codes if c != unwanted.code]

    await _change_permissions(d, workspace, rol_uid, remove)


async def _change_permissions(d: Directory, workspace: str, rol_uid: str, change) -> None:
    """Read, change, write with the version read: a concurrent change is retried."""
    for _ in range(UPDATE_ATTEMPTS):
        doc = await load(d, workspace, rol_uid)
        if doc["rol_code"] == ADMIN_ROLE:
            raise ApiError(400, f"The permissions of {ADMIN_ROLE} cannot change.")
        codes = change(list(doc["permissions"]))
        changes = {"permissions": codes, "rol_update_date": clock.iso(clock.now())}
        try:
            await repository.update_role(
                d.store, workspace, rol_uid, changes, expected_version=doc["_version"]
            )
            return
        except VersionConflict:
            continue
    raise ApiError(409, "The role changed while it was being updated; try again.")


async def users(d: Directory, workspace: str, rol_uid: str) -> list[dict]:
    doc = await load(d, workspace, rol_uid)
    return [
        views.member(u)
        for u in await repository.users_with_role(d.store, workspace, doc["rol_code"])
    ]


async def assign_user(
    d: Directory, workspace: str, rol_uid: str, body: MemberAdd, by_uid: str
) -> None:
    doc = await load(d, workspace, rol_uid)
    await load_user(d, workspace, body.usr_uid)
    if body.usr_uid == by_uid:
        raise ApiError(400, "You cannot change your own role.")
    changes = {"usr_role": doc["rol_code"], "usr_update_date": clock.iso(clock.now())}
    await repository.update_user(d.store, workspace, body.usr_uid, changes)


def _taken(code: str) -> ApiError:
    return ApiError(400, f"The role code '{code}' already exists.")
