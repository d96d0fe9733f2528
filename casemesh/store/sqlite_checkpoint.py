"""WAL checkpoints of the SQLite store, off the event loop.

The store commits on the event loop, so its writer connection must never
checkpoint: a checkpoint copies the WAL's pages into the database file and
fsyncs it, which would stall every request of the process. The writer runs
with ``wal_autocheckpoint=0``; instead, after a commit, once the WAL file
has grown past ``WAL_CHECKPOINT_BYTES`` (SQLite's own default threshold,
1000 pages of 4 KiB), a checkpoint runs on a connection and a thread of its
own.

It holds the store's write lock meanwhile (reads go on): a checkpoint racing
a stream of commits never catches up with the WAL's end, and SQLite starts
the WAL over only once everything in it has been copied — measured, 6 000
small commits with checkpoints alongside left a 78 MB WAL. The writer's
``journal_size_limit=0`` truncates the file when the WAL starts over, so its
size says how much there is to copy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("casemesh.store.sqlite")

WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024
# How many commits pass between two looks at the WAL's size (a stat call).
COMMITS_PER_LOOK = 16


class Checkpoints:
    def __init__(self, path: str, write_lock: asyncio.Lock) -> None:
        self._wal = None if path == ":memory:" else f"{path}-wal"
        self._path = path
        self._write_lock = write_lock
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-ckpt")
        self._conn: sqlite3.Connection | None = None
        self._running: asyncio.Task[None] | None = None
        self._commits = 0
        self.done = 0  # checkpoints run, for tests and diagnostics

    def committed(self) -> bool:
        """A commit went through: now and then, look whether the WAL needs a checkpoint.

        True when a checkpoint was just started: the caller should yield to
        the loop once, so that it queues for the write lock before the
        caller's next transaction (a loop of writes that never waits on
        anything else would take the lock back every time; measured, 60
        commits of 5 000 documents left an 81 MiB WAL and no checkpoint).
        """
        self._commits += 1
        if self._commits >= COMMITS_PER_LOOK:
            return self.look()
        return False

    def look(self) -> bool:
        """Start a checkpoint if the WAL is past the threshold and none is under way."""
        self._commits = 0
        if self._wal is None or self._running is not None:
            return False
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return False  # no WAL (yet): nothing to copy
        if size < WAL_CHECKPOINT_BYTES:
            return False
        self._running = asyncio.create_task(self._run(), name="sqlite-checkpoint")
        return True

    async def _run(self) -> None:
        try:
            async with self._write_lock:  # no commit meanwhile: it can copy everything
                await asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)
            self.done += 1
        except Exception as exc:  # the next look tries again
            log.warning("WAL checkpoint failed: %s", exc)
        finally:
            self._running = None

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        # PASSIVE: never waits for a reader; a long read only leaves some for the next one.
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    async def close(self) -> None:
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._conn.close)
            self._conn = None
        self._thread.shutdown(wait=True)
