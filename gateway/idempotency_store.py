"""Idempotency-Key records in the gateway's document store (shared by every instance).

One document per (caller, key) — its id is a digest of the two, and a unique
index on ``(scope, key)`` states the same — so inserting it is the atomic
claim that lets exactly one request run while a concurrent one with the same
key is told 409. The document starts ``in_flight`` with a lease (a gateway
that dies mid-request leaves a claim that others may take over once the
lease is past) and becomes ``done`` with the answer to replay. Records expire
after ``idempotency_ttl``; a sweeper deletes expired ones, and an expired
record is treated as absent even before that.

The store is opened on first use, so a gateway that never sees the header
never touches a database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from casemesh.settings import Settings
from casemesh.store.filters import Range
from casemesh.store.port import (
    DocumentStore,
    DuplicateKey,
    Index,
    NotFound,
    StoreError,
    VersionConflict,
)
from casemesh.web.errors import ApiError

log = logging.getLogger("casemesh.gateway.idempotency")

COLLECTION = "idempotency_keys"
INDEXES = (Index(("scope", "key"), unique=True), Index(("expires_at",)))
PURGE_BATCH = 500
PURGE_INTERVAL = 600.0
CLAIM_ATTEMPTS = 3
# Answer headers not worth replaying: they describe the connection or this answer only.
UNREPLAYED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
)


@dataclass(frozen=True)
class Claimed:
    """This request owns the key; ``version`` guards the record against a later owner."""

    doc_id: str
    version: int


@dataclass(frozen=True)
class Busy:
    """Another request with the key is still running."""


@dataclass(frozen=True)
class Finished:
    """The key's first request is done: its fingerprint and answer."""

    method: str
    path: str
    fingerprint: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Claim = Claimed | Busy | Finished


def record_id(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


def lease_seconds(settings: Settings) -> float:
    """How long an unfinished claim is honoured: longer than any request may run."""
    return settings.client_body_timeout + 3 * settings.upstream_read_timeout + 60.0


class IdempotencyRecords:
    def __init__(
        self,
        settings: Settings,
        open_store: Callable[[], DocumentStore],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_store = open_store
        self._store: DocumentStore | None = None
        self._opening = asyncio.Lock()
        self._ttl = settings.idempotency_ttl
        self._lease = lease_seconds(settings)
        self._clock = clock

    async def store(self) -> DocumentStore:
        if self._store is None:
            async with self._opening:
                if self._store is None:
                    store = self._open_store()
                    try:
                        await store.ensure_indexes(COLLECTION, INDEXES)
                    except BaseException:
                        await store.close()
                        raise
                    self._store = store
        return self._store

    async def claim(self, scope: str, key: str, method: str, path: str) -> Claim:
        """Take the key for this request, or say who has it. ApiError 503 if the store is down."""
        doc_id = record_id(scope, key)
        try:
            store = await self.store()
            for _ in range(CLAIM_ATTEMPTS):
                now = self._clock()
                fresh = {
                    "state": "in_flight",
                    "method": method,
                    "path": path,
                    "lease_until": now + self._lease,
                    "expires_at": now + max(self._ttl, self._lease),
                }
                try:
                    saved = await store.insert(
                        COLLECTION, {"id": doc_id, "scope": scope, "key": key, **fresh}
                    )
                    return Claimed(doc_id, saved["_version"])
                except DuplicateKey:
                    existing = await store.get(COLLECTION, doc_id)
                if existing is None:
                    continue  # deleted in between: try again
                if not _stale(existing, now):
                    return _as_claim(existing)
                with contextlib.suppress(VersionConflict, NotFound):
                    saved = await store.update(
                        COLLECTION, doc_id, fresh, expected_version=existing["_version"]
                    )
                    return Claimed(doc_id, saved["_version"])
            return Busy()
        except StoreError as exc:
            log.warning("idempotency records unavailable: %s", exc)
            raise ApiError(
                503, "Idempotency-Key cannot be honoured right now", headers={"Retry-After": "2"}
            ) from exc

    async def finish(
        self,
        claim: Claimed,
        fingerprint: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        changes: dict[str, Any] = {
            "state": "done",
            "fingerprint": fingerprint,
            "status": status,
            "headers": [[name, value] for name, value in headers],
            "body": base64.b64encode(body).decode("ascii"),
            "expires_at": self._clock() + self._ttl,
        }
        try:
            store = await self.store()
            await store.update(COLLECTION, claim.doc_id, changes, expected_version=claim.version)
        except (VersionConflict, NotFound):
            log.warning("an Idempotency-Key was taken over before its request finished")
        except StoreError as exc:
            log.warning("cannot record an Idempotency-Key's answer: %s", exc)

    async def release(self, claim: Claimed) -> None:
        """Give the key up: its request may be sent again."""
        try:
            store = await self.store()
            await store.delete(COLLECTION, claim.doc_id, expected_version=claim.version)
        except (VersionConflict, NotFound):
            pass  # someone else holds it now, or it is gone already
        except StoreError as exc:
            log.warning("cannot release an Idempotency-Key (it lapses with its lease): %s", exc)

    async def purge(self) -> int:
        """Delete expired records (one batch); how many went."""
        if self._store is None:
            return 0
        now = self._clock()
        expired = await self._store.find(COLLECTION, Range("expires_at", lt=now), limit=PURGE_BATCH)
        gone = 0
        for doc in expired:
            with contextlib.suppress(VersionConflict, NotFound):
                await self._store.delete(COLLECTION, doc["id"], expected_version=doc["_version"])
                gone += 1
        return gone

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def sweeping(self, interval: float = PURGE_INTERVAL) -> AsyncIterator[None]:
        """cleanup_ctx body: purge expired records every ``interval`` seconds, close at the end."""
        task = asyncio.create_task(self._sweep(interval))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.close()

    async def _sweep(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                while await self.purge() == PURGE_BATCH:
                    pass
            except StoreError as exc:
                log.warning("cannot purge expired Idempotency-Keys: %s", exc)


def _stale(doc: dict, now: float) -> bool:
    if doc["expires_at"] <= now:
        return True
    return doc["state"] == "in_flight" and doc["lease_until"] <= now


def _as_claim(doc: dict) -> Claim:
    if doc["state"] != "done":
        return Busy()
    return Finished(
        method=doc["method"],
        path=doc["path"],
        fingerprint=doc["fingerprint"],
        status=doc["status"],
        headers=[(name, value) for name, value in doc["headers"]],
        body=base64.b64decode(doc["body"]),
    )


def replayable_headers(headers: Any) -> list[tuple[str, str]]:
    """The upstream answer's headers worth keeping, in order."""
    return [
        (name, value)
        for name, value in headers.items()
        if name.lower() not in UNREPLAYED
        and name.lower() != "x-request-id"
        # Gateway-only headers between services never reach a client (gateway/proxy.py).
        and not name.lower().startswith("x-casemesh-")
    ]
