"""API keys: long-lived credentials a user creates for scripts and integrations.

A key is shown once, when it is made; only its SHA-256 digest is kept. It is
sent as ``Authorization: Bearer <key>`` (TheHive's style) or as HTTP Basic
with ``<username>/token`` and the key (Trackops's style).
"""

from __future__ import annotations

from casemesh.store.port import NotFound
from casemesh.web.errors import ApiError
from services.cases.directory import clock, token_repository, views
from services.cases.directory.context import Directory
from services.cases.directory.credentials import API_KEY_PREFIX, digest, new_api_key
from services.cases.directory.schemas import ApiKeyCreate
from services.cases.directory.users import load as load_user

MAX_KEYS_PER_USER = 20


async def create_key(d: Directory, workspace: str, usr_uid: str, body: ApiKeyCreate) -> dict:
    await load_user(d, workspace, usr_uid)
    if await token_repository.count_api_keys(d.store, workspace, usr_uid) >= MAX_KEYS_PER_USER:
        raise ApiError(400, f"A user can hold at most {MAX_KEYS_PER_USER} API keys.")
    key = new_api_key()
    doc = {
        "id": key.key_id,
        "key_id": key.key_id,
        "workspace": workspace,
        "usr_uid": usr_uid,
        "name": body.name,
        "prefix": f"{API_KEY_PREFIX}{key.key_id}",
        "key_hash": digest(key.value),
        "created_at": clock.iso(clock.now()),
    }
    saved = await token_repository.insert_api_key(d.store, doc)
    return {**views.api_key(saved), "key": key.value}


async def list_keys(d: Directory, workspace: str, usr_uid: str) -> list[dict]:
    await load_user(d, workspace, usr_uid)
    return [
        views.api_key(doc)
        for doc in await token_repository.list_api_keys(d.store, workspace, usr_uid)
    ]


async def revoke_key(d: Directory, workspace: str, usr_uid: str, key_id: str) -> None:
    doc = await token_repository.get_api_key(d.store, key_id)
    if doc is None or doc["workspace"] != workspace or doc["usr_uid"] != usr_uid:
        raise ApiError(400, f"The API key {key_id} does not exist.")
    try:
        await token_repository.delete_api_key(d.store, key_id)
    except NotFound:
        raise ApiError(400, f"The API key {key_id} does not exist.") from None
