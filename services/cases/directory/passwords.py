"""Password hashing with Argon2id, off the event loop and with bounded memory.

Each Argon2 hash takes tens of milliseconds and 64 MiB, so it runs in a worker
thread, and at most a few run at once: a burst of sign-ins queues instead of
exhausting memory.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_CONCURRENT_HASHES = 4


class Passwords:
    def __init__(
        self, hasher: PasswordHasher | None = None, concurrency: int = MAX_CONCURRENT_HASHES
    ):
        self._hasher = hasher or PasswordHasher()
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._decoy: str | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:  # made on first use, inside the running loop
            self._slots = asyncio.Semaphore(self._concurrency)
        return self._slots

    async def hash(self, password: str) -> str:
        async with self._semaphore():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._semaphore():
            return await asyncio.to_thread(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def spend_time(self, password: str) -> None:
        """Verify against a decoy, so an unknown username takes as long as a wrong password."""
        if self._decoy is None:
            self._decoy = await self.hash("decoy password that matches nothing")
        await self.verify(self._decoy, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
