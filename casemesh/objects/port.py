"""The object-store port: streamed blobs by key.

Keys are ``/``-separated words of ``[A-Za-z0-9._-]``; content-addressed blobs
use their sha256 as the last word, so ``exists`` answers "do we already hold
these bytes".
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

KEY_PATTERN = re.compile(
    r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}$"
)
CHUNK_SIZE = 256 * 1024
# What ``get`` yields: pieces of this size (the last may be shorter). Each
# read is a thread hop in both adapters; 1 MiB reads cost about half the CPU
# per GiB of 256 KiB ones (docs/benchmarks.md, ``documents``).
READ_SIZE = 1024 * 1024


class ObjectStoreError(Exception):
    pass


class ObjectNotFound(ObjectStoreError):
    pass


class ObjectStoreUnavailable(ObjectStoreError):
    """The object store cannot be reached."""


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid object key: {key!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str = "application/octet-stream"


class ObjectStore(abc.ABC):
    @abc.abstractmethod
    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Store the bytes ``chunks`` yields; ``length`` may be unknown (None)."""

    @abc.abstractmethod
    def get(self, key: str, *, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream the object (or a byte range of it); raise ObjectNotFound."""

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    async def direct_url(self, key: str, *, expires: float) -> str | None:
        """A short-lived URL from which the object can be fetched with a plain HTTP GET
        (Range honoured), or None when the store has no such thing (the filesystem).

        The gateway fetches downloads from it itself, so their bytes cross one
        Casemesh process instead of two (``gateway/internal_fetch.py``). No
        network call: whether the object exists shows when the URL is fetched.
        """
        return None

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ObjectStoreUnavailable if the store cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...
