"""Users of a workspace: list, read, create, change, delete."""

from __future__ import annotations

from casemesh.identity import Identity
from casemesh.store.port import Document, DuplicateKey
from casemesh.web.errors import ApiError
from services.cases.directory import clock, repository, token_repository, views
from services.cases.directory.context import Directory
from services.cases.directory.credentials import new_uid
from services.cases.directory.schemas import UserCreate, UserQuery, UserUpdate

PASSWORD_FIELDS = ("usr_new_pass", "usr_cnf_pass")
REFERENCES = ("usr_reports_to", "usr_replaced_by")


def missing(usr_uid: str, field: str = "usr_uid") -> ApiError:
    return ApiError(400, f"The user with {field}: {usr_uid} does not exist.")


async def load(d: Directory, workspace: str, usr_uid: str) -> Document:
    doc = await repository.get_user(d.store, workspace, usr_uid)
    if doc is None:
        raise missing(usr_uid)
    return doc


async def list_users(d: Directory, workspace: str, query: UserQuery) -> list[dict]:
    statuses = () if query.status == "ALL" else (query.status,)
    docs = await repository.list_users(
        d.store,
        workspace,
        statuses=statuses,
        text=query.filter,
        skip=query.start,
        limit=query.limit,
    )
    return [views.user(doc) for doc in docs]


async def get_user(d: Directory, workspace: str, usr_uid: str) -> dict:
    return views.user(await load(d, workspace, usr_uid))


async def create_user(d: Directory, workspace: str, body: UserCreate) -> dict:
    fields = body.model_dump(exclude={*PASSWORD_FIELDS})
    await _check_username_free(d, workspace, body.usr_username)
    await _check_role(d, workspace, body.usr_role)
    await _check_references(d, workspace, fields, None)
    usr_uid = new_uid()
    moment = clock.now()
    doc = {
        "id": repository.record_id(workspace, usr_uid),
        "workspace": workspace,
        "usr_uid": usr_uid,
        **fields,
        "password_hash": await d.passwords.hash(body.usr_new_pass),
        "usr_create_date": clock.iso(moment),
        "usr_update_date": clock.iso(moment),
        "created_at": clock.stamp(moment),
    }
    try:
        saved = await repository.insert_user(d.store, doc)
    except DuplicateKey:
        raise _taken(body.usr_username) from None
    return views.user(saved)


async def update_user(
    d: Directory, workspace: str, usr_uid: str, body: UserUpdate, by: Identity
) -> None:
    current = await load(d, workspace, usr_uid)
    given = body.given()
    changes = {k: v for k, v in given.items() if k not in PASSWORD_FIELDS}
    if not given:
        raise ApiError(400, "the request has no field to change")
    if usr_uid == by.user_uid:
        _check_not_locking_out(current, changes)
    if changes.get("usr_username", current["usr_username"]) != current["usr_username"]:
        await _check_username_free(d, workspace, changes["usr_username"])
    if "usr_role" in changes:
        await _check_role(d, workspace, changes["usr_role"])
    await _check_references(d, workspace, changes, usr_uid)
    if body.usr_new_pass:
        changes["password_hash"] = await d.passwords.hash(body.usr_new_pass)
    changes["usr_update_date"] = clock.iso(clock.now())
    try:
        await repository.update_user(d.store, workspace, usr_uid, changes)
    except DuplicateKey:
        raise _taken(changes.get("usr_username", "")) from None


async def delete_user(d: Directory, workspace: str, usr_uid: str, by: Identity) -> None:
    await load(d, workspace, usr_uid)
    if usr_uid == by.user_uid:
        raise ApiError(400, "You cannot delete your own user.")
    dependents = await token_repository.credential_ids(d.store, workspace, usr_uid)
    memberships = await repository.memberships(d.store, workspace, usr_uid)
    dependents[repository.MEMBERS] = [m["id"] for m in memberships]
    await repository.delete_user(d.store, workspace, usr_uid, dependents)


def _taken(username: str) -> ApiError:
    return ApiError(400, f"The username '{username}' already exists.")


async def _check_username_free(d: Directory, workspace: str, username: str) -> None:
    if await repository.find_user_by_username(d.store, workspace, username) is not None:
        raise _taken(username)


async def _check_role(d: Directory, workspace: str, rol_code: str) -> None:
    if await repository.find_role_by_code(d.store, workspace, rol_code) is None:
        raise ApiError(400, f"Invalid value for usr_role: there is no role {rol_code!r}.")


async def _check_references(
    d: Directory, workspace: str, fields: dict, usr_uid: str | None
) -> None:
    """A manager (``usr_reports_to``) or replacement must be another user of the workspace."""
    for field in REFERENCES:
        other = fields.get(field)
        if not other:
            continue
        if other == usr_uid:
            raise ApiError(400, f"{field}: a user cannot refer to themselves.")
        if await repository.get_user(d.store, workspace, other) is None:
            raise missing(other, field)


def _check_not_locking_out(current: Document, changes: dict) -> None:
    if changes.get("usr_status", "ACTIVE") == "INACTIVE":
        raise ApiError(400, "You cannot deactivate your own user.")
    if changes.get("usr_role", current["usr_role"]) != current["usr_role"]:
        raise ApiError(400, "You cannot change your own role.")
