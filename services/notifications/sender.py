"""The sender: claims due delivery records and hands their messages to the mailer.

A background loop of the runtime, woken when a handler records deliveries
and otherwise polling. The event was acked once its records were written;
from then on retries are this loop's, with exponential back-off, not the
bus's. See ``deliveries`` for the record's life and docs/notifications.md for
the exactly-once argument.

Store writes are batched where that is safe:

- each pass claims every due record it read in **one** transaction
  (``Deliveries.claim_all``: a compare-and-set per record, so what another
  sender changed first is left out);
- outcomes are written by a group commit (``OutcomeWriter``): an outcome is
  written as soon as no other write is under way, together with every
  outcome that arrived while the previous one was committing. Nothing waits
  for a batch to fill, so the window between the server's 250 and the
  ``sent`` record stays one commit long.

A claimed record is only sent if its send can start within a quarter of the
lease of its claim (else it is given back, unsent): with the send itself
abandoned after half the lease, a send always ends well before anyone may
take the record over, however long the pass's other sends took.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from casemesh.mail.port import Mailer, PermanentMailError, TransientMailError
from casemesh.settings import Settings
from casemesh.store.port import Document
from casemesh.wakeup import sleep_until_woken
from services.notifications.compose import compose
from services.notifications.deliveries import (
    SENDING,
    SENT,
    Deliveries,
    Outcome,
    failed_outcome,
    released_outcome,
    retry_outcome,
    sent_outcome,
)
from services.notifications.metrics import DeliveryStats

log = logging.getLogger("casemesh.notifications.sender")

BATCH = 100
STOP_GRACE = 30.0
# Most outcomes written in one transaction.
OUTCOMES_PER_COMMIT = 200


def backoff(attempts: int, *, first: float, cap: float) -> float:
    """Seconds before try ``attempts + 1``: first, 2x first, 4x first... at most ``cap``."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


class OutcomeWriter:
    """Group commit of outcomes: those that arrive during a write go together in the next."""

    def __init__(self, deliveries: Deliveries) -> None:
        self._deliveries = deliveries
        self._pending: list[tuple[Outcome, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written, for tests and benchmarks
        self.written = 0

    async def write(self, outcome: Outcome) -> bool:
        """Write ``outcome``; False when the record's version moved on (see record_outcomes)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        # Shielded: a caller cancelled while waiting does not take its outcome back.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        batch: list[tuple[Outcome, asyncio.Future[bool]]] = []
        try:
            while self._pending:
                batch = self._pending[:OUTCOMES_PER_COMMIT]
                del self._pending[:OUTCOMES_PER_COMMIT]
                try:
                    results = await self._deliveries.record_outcomes([o for o, _ in batch])
                except Exception as exc:  # handed to every waiter
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    self.commits += 1
                    self.written += len(batch)
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                batch = []
        except asyncio.CancelledError:
            for _, future in (*batch, *self._pending):
                future.cancel()
            self._pending.clear()
            raise


class Sender:
    def __init__(
        self,
        deliveries: Deliveries,
        mailer: Mailer,
        settings: Settings,
        stats: DeliveryStats,
    ) -> None:
        self.deliveries = deliveries
        self.mailer = mailer
        self.settings = settings
        self.stats = stats
        self.owner = uuid.uuid4().hex[:12]
        self.lease = settings.notifications_lease
        # A send that outlives half the lease is abandoned (outcome unknown:
        # retried with the same Message-ID) before anyone may take it over.
        self.send_timeout = settings.notifications_lease / 2
        # A claimed record whose send has not started this long after the
        # claim is given back unsent: start + send_timeout stays < 3/4 lease.
        self.start_within = settings.notifications_lease / 4
        self.outcomes = OutcomeWriter(deliveries)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.notifications_concurrency)
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send what is due until cancelled; in-flight sends finish and are recorded."""
        while True:
            self._wake.clear()
            try:
                full = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # store trouble: log it, try again on the next tick
                log.exception("notification sender pass failed")
                full = False
            if full:
                continue
            await sleep_until_woken(self._wake, self.settings.notifications_poll_interval)

    async def send_due(self) -> bool:
        """One pass over due records; True if there may be more right away."""
        rows = await self.deliveries.due(limit=BATCH)
        if not rows or self._stopping:
            return False
        claimed = await self.deliveries.claim_all(rows, owner=self.owner, lease=self.lease)
        claimed_at = time.monotonic()
        self.stats.taken_over += _taken_over(rows, claimed)
        tasks = [asyncio.create_task(self._take(record, claimed_at)) for record in claimed]
        if tasks:
            try:
                await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            except asyncio.CancelledError:
                # Stopping: start nothing new (claims not started are given
                # back); let sends under way finish and be recorded.
                self._stopping = True
                await asyncio.wait(tasks, timeout=STOP_GRACE)
                raise
            for task in tasks:
                if isinstance(task.exception(), Exception):
                    log.error("delivery failed unexpectedly", exc_info=task.exception())
        return len(rows) == BATCH

    async def _take(self, record: Document, claimed_at: float) -> None:
        async with self._slots:
            if self._stopping or time.monotonic() - claimed_at > self.start_within:
                outcome = released_outcome(record)
            else:
                outcome = await self._deliver(record)
        # The slot covers the send only: outcomes are written in groups.
        # The one window: a crash between the server's 250 and this write
        # re-sends after the lease, with the same Message-ID.
        await self.outcomes.write(outcome)
        if outcome.changes.get("status") == SENT:
            self.stats.sent += 1

    async def _deliver(self, record: Document) -> Outcome:
        if not record.get("email"):
            return self._fail(record, "the recipient has no e-mail address")
        try:
            message = compose(record, mail_from=self.settings.mail_from)
        except (ValueError, TypeError, IndexError) as exc:
            return self._fail(record, f"cannot build the message: {exc}")
        try:
            await asyncio.wait_for(self.mailer.send(message), self.send_timeout)
        except PermanentMailError as exc:
            return self._fail(record, str(exc))
        except (TransientMailError, TimeoutError, OSError) as exc:
            return self._retry(record, str(exc) or type(exc).__name__)
        return sent_outcome(record)

    def _fail(self, record: Document, error: str) -> Outcome:
        self.stats.failed_permanent += 1
        log.warning("delivery %s to %s failed: %s", record["id"], record.get("email"), error)
        return failed_outcome(record, error, permanent=True)

    def _retry(self, record: Document, error: str) -> Outcome:
        delay = backoff(
            record["attempts"],
            first=self.settings.notifications_retry_first,
            cap=self.settings.notifications_retry_max,
        )
        when = datetime.now().astimezone() + timedelta(seconds=delay)
        created = datetime.fromisoformat(record["created_at"])
        if when > created + timedelta(seconds=self.settings.notifications_retry_period):
            self.stats.gave_up += 1
            note = f"gave up after {record['attempts']} attempts: {error}"
            return failed_outcome(record, note, permanent=False)
        self.stats.retried += 1
        return retry_outcome(record, when, error)


def _taken_over(rows: Sequence[Document], claimed: Sequence[Document]) -> int:
    """How many of the claimed records another sender had held until its lease ran out."""
    was = {row["id"]: row["status"] for row in rows}
    return sum(was.get(record["id"]) == SENDING for record in claimed)
