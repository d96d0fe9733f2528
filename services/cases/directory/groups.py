"""Groups of users: list, read, create, change, delete, and their members."""

from __future__ import annotations

from casemesh.store.port import Document, DuplicateKey, NotFound
from casemesh.web.errors import ApiError
from services.cases.directory import clock, repository, views
from services.cases.directory.context import Directory
from services.cases.directory.credentials import new_uid
from services.cases.directory.schemas import GroupCreate, GroupUpdate, MemberAdd, PageQuery
from services.cases.directory.users import load as load_user


def _taken(title: str) -> ApiError:
    return ApiError(400, f"The group title '{title}' already exists.")


async def load(d: Directory, workspace: str, grp_uid: str) -> Document:
    doc = await repository.get_group(d.store, workspace, grp_uid)
    if doc is None:
        raise ApiError(400, f"The group with grp_uid: {grp_uid} does not exist.")
    return doc


async def list_groups(d: Directory, workspace: str, query: PageQuery) -> list[dict]:
    docs = await repository.list_groups(
        d.store, workspace, text=query.filter, skip=query.start, limit=query.limit
    )
    return [
        views.group(doc, await repository.count_members(d.store, workspace, doc["grp_uid"]))
        for doc in docs
    ]


async def get_group(d: Directory, workspace: str, grp_uid: str) -> dict:
    doc = await load(d, workspace, grp_uid)
    return views.group(doc, await repository.count_members(d.store, workspace, grp_uid))


async def create_group(d: Directory, workspace: str, body: GroupCreate) -> dict:
    grp_uid = new_uid()
    moment = clock.now()
    doc = {
        "id": repository.record_id(workspace, grp_uid),
        "workspace": workspace,
        "grp_uid": grp_uid,
        "grp_title": body.grp_title,
        "grp_status": body.grp_status,
        "created_at": clock.stamp(moment),
    }
    try:
        saved = await repository.insert_group(d.store, doc)
    except DuplicateKey:
        raise _taken(body.grp_title) from None
    return views.group(saved)


async def update_group(d: Directory, workspace: str, grp_uid: str, body: GroupUpdate) -> None:
    await load(d, workspace, grp_uid)
    changes = body.given()
    if not changes:
        raise ApiError(400, "the request has no field to change")
    try:
        await repository.update_group(d.store, workspace, grp_uid, changes)
    except DuplicateKey:
        raise _taken(changes.get("grp_title", "")) from None


async def delete_group(d: Directory, workspace: str, grp_uid: str) -> None:
    await load(d, workspace, grp_uid)
    await repository.delete_group(d.store, workspace, grp_uid)


async def members(d: Directory, workspace: str, grp_uid: str, query: PageQuery) -> list[dict]:
    await load(d, workspace, grp_uid)
    uids = await repository.member_uids(d.store, workspace, grp_uid)
    if not uids:
        return []
    docs = await repository.list_users(
        d.store, workspace, only=uids, text=query.filter, skip=query.start, limit=query.limit
    )
    return [views.member(doc) for doc in docs]


async def available_users(
    d: Directory, workspace: str, grp_uid: str, query: PageQuery
) -> list[dict]:
    """Active users who are not in the group yet."""
    await load(d, workspace, grp_uid)
    uids = await repository.member_uids(d.store, workspace, grp_uid)
    docs = await repository.list_users(
        d.store,
        workspace,
        statuses=("ACTIVE",),
        exclude=uids,
        text=query.filter,
        skip=query.start,
        limit=query.limit,
    )
    return [views.member(doc) for doc in docs]


async def add_member(d: Directory, workspace: str, grp_uid: str, body: MemberAdd) -> None:
    await load(d, workspace, grp_uid)
    await load_user(d, workspace, body.usr_uid)
    member = {
        "id": repository.record_id(workspace, grp_uid, body.usr_uid),
        "workspace": workspace,
        "grp_uid": grp_uid,
        "usr_uid": body.usr_uid,
        "created_at": clock.stamp(clock.now()),
    }
    try:
        await repository.add_member(d.store, member)
    except DuplicateKey:
        raise ApiError(
            400, f"The user with usr_uid: {body.usr_uid} is already assigned to the group."
        ) from None


async def remove_member(d: Directory, workspace: str, grp_uid: str, usr_uid: str) -> None:
    await load(d, workspace, grp_uid)
    try:
        await repository.remove_member(d.store, workspace, grp_uid, usr_uid)
    except NotFound:
        raise ApiError(
            400, f"The user with usr_uid: {usr_uid} is not assigned to the group."
        ) from None
