"""Issued credentials over the document-store port: tokens, API keys, OAuth clients.

Tokens are stored under the SHA-256 digest of their value, so a lookup is a
read by id and the value itself is never written down.
"""

from __future__ import annotations

from collections.abc import Sequence

from casemesh.store.filters import And, Eq, Range, Sort
from casemesh.store.port import Document, DocumentStore, DuplicateKey, Index

API_KEYS = "api_keys"
ACCESS_TOKENS = "access_tokens"
REFRESH_TOKENS = "refresh_tokens"
OAUTH_CLIENTS = "oauth_clients"

INDEXES: dict[str, Sequence[Index]] = {
    API_KEYS: (Index(("workspace", "usr_uid")),),
    ACCESS_TOKENS: (Index(("workspace", "usr_uid")), Index(("expires_at",))),
    REFRESH_TOKENS: (Index(("workspace", "usr_uid")), Index(("expires_at",))),
}


def _of_user(workspace: str, usr_uid: str) -> And:
    return And(Eq("workspace", workspace), Eq("usr_uid", usr_uid))


# -- OAuth clients ----------------------------------------------------------------


def client_id_key(workspace: str, client_id: str) -> str:
    return f"{workspace}:{client_id}"


async def get_client(store: DocumentStore, workspace: str, client_id: str) -> Document | None:
    return await store.get(OAUTH_CLIENTS, client_id_key(workspace, client_id))


async def save_client(store: DocumentStore, client: Document) -> None:
    """Insert the client, or bring its stored fields up to date."""
    existing = await store.get(OAUTH_CLIENTS, client["id"])
    if existing is None:
        try:
            await store.insert(OAUTH_CLIENTS, client)
            return
        except DuplicateKey:  # another replica registered it first
            existing = await store.get(OAUTH_CLIENTS, client["id"])
    changes = {k: v for k, v in client.items() if k != "id" and existing and existing.get(k) != v}
    if changes:
        await store.update(OAUTH_CLIENTS, client["id"], changes)


# -- access and refresh tokens ----------------------------------------------------


async def get_access_token(store: DocumentStore, token_digest: str) -> Document | None:
    return await store.get(ACCESS_TOKENS, token_digest)


async def get_refresh_token(store: DocumentStore, token_digest: str) -> Document | None:
    return await store.get(REFRESH_TOKENS, token_digest)


async def save_token_pair(
    store: DocumentStore, access: Document, refresh: Document, *, replaces: str | None = None
) -> None:
    """Write a new token pair; ``replaces`` (a refresh token id) is deleted in the same write.

    Raises NotFound if ``replaces`` is gone already: a refresh token is good once.
    """
    async with store.transaction() as tx:
        if replaces is not None:
            await tx.delete(REFRESH_TOKENS, replaces)
        await tx.insert(ACCESS_TOKENS, access)
        await tx.insert(REFRESH_TOKENS, refresh)


async def delete_access_token(store: DocumentStore, token_digest: str) -> None:
    if await store.get(ACCESS_TOKENS, token_digest) is not None:
        await store.delete(ACCESS_TOKENS, token_digest)


async def delete_expired_tokens(
    store: DocumentStore, workspace: str, usr_uid: str, now: str
) -> None:
    """Forget a user's tokens that expired before ``now``."""
    for collection in (ACCESS_TOKENS, REFRESH_TOKENS):
        expired = await store.find(
            collection, And(_of_user(workspace, usr_uid), Range("expires_at", lt=now))
        )
        async with store.transaction() as tx:
            for doc in expired:
                if await tx.get(collection, doc["id"]) is not None:
                    await tx.delete(collection, doc["id"])


# -- API keys ---------------------------------------------------------------------


async def get_api_key(store: DocumentStore, key_id: str) -> Document | None:
    return await store.get(API_KEYS, key_id)


async def list_api_keys(store: DocumentStore, workspace: str, usr_uid: str) -> list[Document]:
    return await store.find(API_KEYS, _of_user(workspace, usr_uid), sort=(Sort("created_at"),))


async def count_api_keys(store: DocumentStore, workspace: str, usr_uid: str) -> int:
    return await store.count(API_KEYS, _of_user(workspace, usr_uid))


async def insert_api_key(store: DocumentStore, key: Document) -> Document:
    return await store.insert(API_KEYS, key)


async def delete_api_key(store: DocumentStore, key_id: str) -> None:
    await store.delete(API_KEYS, key_id)


# -- everything a user holds ------------------------------------------------------


async def credential_ids(
    store: DocumentStore, workspace: str, usr_uid: str
) -> dict[str, list[str]]:
    """Ids of the user's tokens and keys, by collection (to delete with the user)."""
    out: dict[str, list[str]] = {}
    for collection in (API_KEYS, ACCESS_TOKENS, REFRESH_TOKENS):
        out[collection] = [
            d["id"] for d in await store.find(collection, _of_user(workspace, usr_uid))
        ]
    return out
