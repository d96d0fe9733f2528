"""Content-addressed blobs: one object per distinct content per workspace, reference-counted.

The object-store port has no copy or rename, so an upload streams to a fresh
key ``ws-<workspace hash>/blobs/<uuid>`` while sha256, sha1 and md5 and the
size are computed. The ``blobs`` collection maps ``<workspace>:<sha256>`` to
the key of the first upload with that content; when the document that refers
to an upload is written, ``claim`` either records the upload's key as the
blob (first copy) or adds a reference to the existing blob, and the
duplicate object is deleted after the commit. ``release`` drops a reference;
the object goes when the last one does. Uploads over the limit, cancelled or
failed leave nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from casemesh.objects.port import ObjectStore, ObjectStoreError
from casemesh.store.port import Transaction
from services.documents.files import SNIFF_BYTES, sniff

BLOBS = "blobs"


class TooLarge(Exception):
    """The upload crossed its size limit."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"Uploaded file ({name}) is too big.")
        self.name, self.limit = name, limit


class StoreDown(Exception):
    """The object store could not take (or give) the bytes."""


@dataclass(frozen=True)
class Stored:
    """An upload that reached the object store, not yet claimed by a document."""

    workspace: str
    key: str
    size: int
    content_type: str
    sha256: str
    sha1: str
    md5: str

    def file(self, filename: str) -> dict:
        return {
            "filename": filename,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "sha1": self.sha1,
            "md5": self.md5,
        }


def workspace_prefix(workspace: str) -> str:
    return "ws-" + hashlib.sha256(workspace.encode()).hexdigest()[:24]


def blob_id(workspace: str, sha256: str) -> str:
    return f"{workspace}:{sha256}"


class Blobs:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    async def ingest(
        self, workspace: str, chunks: AsyncIterator[bytes], *, limit: int, name: str
    ) -> Stored:
        """Stream ``chunks`` to a new key, hashing and counting; TooLarge past ``limit``."""
        key = f"{workspace_prefix(workspace)}/blobs/{uuid.uuid4().hex}"
        hashes = (hashlib.sha256(), hashlib.sha1(), hashlib.md5())  # noqa: S324 - checksums
        seen = {"size": 0, "head": b""}

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                seen["size"] += len(chunk)
                if seen["size"] > limit:
                    raise TooLarge(name, limit)
                if len(seen["head"]) < SNIFF_BYTES:
                    seen["head"] += chunk[: SNIFF_BYTES - len(seen["head"])]
                for h in hashes:
                    h.update(chunk)
                yield chunk

        try:
            await self.objects.put(key, counted())
        except ObjectStoreError as exc:
            await self.discard_key(key)
            raise StoreDown(str(exc)) from exc
        except BaseException:
            await self.discard_key(key)
            raise
        sha256, sha1, md5 = (h.hexdigest() for h in hashes)
        return Stored(workspace, key, seen["size"], sniff(seen["head"], name), sha256, sha1, md5)

    async def discard_key(self, key: str) -> None:
        with contextlib.suppress(Exception):
            await self.objects.delete(key)

    async def claim(self, tx: Transaction, stored: Stored) -> tuple[str, str | None]:
        """Reference the blob of ``stored`` in ``tx``: (its key, a duplicate key to delete)."""
        bid = blob_id(stored.workspace, stored.sha256)
        blob = await tx.get(BLOBS, bid)
        if blob is None:
            await tx.insert(
                BLOBS,
                {
                    "id": bid,
                    "workspace": stored.workspace,
                    "sha256": stored.sha256,
                    "key": stored.key,
                    "size": stored.size,
                    "refs": 1,
                },
            )
            return stored.key, None
        await tx.update(BLOBS, bid, {"refs": blob["refs"] + 1}, expected_version=blob["_version"])
        return blob["key"], (stored.key if stored.key != blob["key"] else None)

    async def release(self, tx: Transaction, workspace: str, sha256: str) -> str | None:
        """Drop one reference; the key to delete once committed if it was the last."""
        bid = blob_id(workspace, sha256)
        blob = await tx.get(BLOBS, bid)
        if blob is None:
            return None
        if blob["refs"] <= 1:
            await tx.delete(BLOBS, bid, expected_version=blob["_version"])
            return blob["key"]
        await tx.update(BLOBS, bid, {"refs": blob["refs"] - 1}, expected_version=blob["_version"])
        return None
