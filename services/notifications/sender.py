"""The sender: claims due delivery records and hands their messages to the mailer.

A background loop of the runtime, woken when a handler records deliveries
and otherwise polling. It is a pipeline: each time it wakes it claims what
is due and starts sending it without waiting for earlier sends to finish
(at most ``MAX_IN_FLIGHT`` claimed and unsettled records; at most
``notifications_concurrency`` of them on the wire). The event was acked
once its records were written; from then on retries are this loop's, with
exponential back-off, not the bus's. See ``deliveries`` for the record's
life and docs/notifications.md for the exactly-once argument.

Store writes are batched where that is safe: claims and outcomes go through
the service's group commit (``ledger.Ledger``, shared with the handler's
new records). A wake-up claims every due record it read together (a
compare-and-set per record, so what another sender changed first is left
out); an outcome is written as soon as no other commit is under way,
together with whatever arrived meanwhile. Nothing waits for a batch to
fill, so the window between the server's 250 and the ``sent`` record stays
about one commit long.

A claimed record is only sent if its send can start within a quarter of the
lease of its claim (else it is given back, unsent): with the send itself
abandoned after half the lease, a send always ends well before anyone may
take the record over, however long the sends queued before it took.
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
from services.notifications.ledger import Ledger
from services.notifications.metrics import DeliveryStats

log = logging.getLogger("casemesh.notifications.sender")

# Most records claimed in one go, and most claimed and not yet settled.
BATCH = 100
MAX_IN_FLIGHT = 200
STOP_GRACE = 30.0


def backoff(attempts: int, *, first: float, cap: float) -> float:
    """Seconds before try ``attempts + 1``: first, 2x first, 4x first... at most ``cap``."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


class Sender:
    def __init__(
        self,
        deliveries: Deliveries,
        mailer: Mailer,
        settings: Settings,
        stats: DeliveryStats,
        ledger: Ledger | None = None,
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
        # Claims and outcomes (and the handler's new records) are group-committed.
        self.ledger = ledger or Ledger(deliveries)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.notifications_concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Claimed records not yet settled (sending, waiting for a slot, or being recorded)."""
        return len(self._in_flight)

    async def run(self) -> None:
        """Send what is due until cancelled; in-flight sends finish and are recorded.

        A pipeline, not a series of passes: records recorded while earlier
        ones are being sent are claimed at once (up to ``MAX_IN_FLIGHT``
        claimed and unsettled), so a new delivery never waits for a whole
        batch of older ones to finish.
        """
        try:
            while True:
                self._wake.clear()
                try:
                    more = await self.send_due()
                except asyncio.CancelledError:
                    raise
                except Exception:  # store trouble: log it, try again on the next tick
                    log.exception("notification sender pass failed")
                    more = False
                if len(self._in_flight) >= MAX_IN_FLIGHT:
                    await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                elif not more:
                    await sleep_until_woken(self._wake, self.settings.notifications_poll_interval)
        except asyncio.CancelledError:
            # Stopping: start nothing new (claims not started are given back);
            # let sends under way finish and be recorded.
            self._stopping = True
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE)
            raise

    async def send_due(self) -> bool:
        """Claim what is due (as much as there is room for) and start sending it.

        Does not wait for the sends; True if there may be more due right away.
        """
        room = min(BATCH, MAX_IN_FLIGHT - len(self._in_flight))
        if room <= 0 or self._stopping:
            return False
        rows = await self.deliveries.due(limit=room)
        if not rows or self._stopping:
            return False
        claim = asyncio.ensure_future(self.ledger.claim(rows, owner=self.owner, lease=self.lease))
        try:
            claimed = await asyncio.shield(claim)
        except asyncio.CancelledError:
            self._stopping = True
            await self._give_back(claim)
            raise
        claimed_at = time.monotonic()
        self.stats.taken_over += _taken_over(rows, claimed)
        for record in claimed:
            task = asyncio.create_task(self._take(record, claimed_at))
            self._in_flight.add(task)
            task.add_done_callback(self._settled)
        return len(rows) == room

    async def _give_back(self, claim: asyncio.Future[list[Document]]) -> None:
        """Stopping while a claim commits: give back what it took, unsent, not wait its lease."""
        try:
            for record in await claim:
                await self.ledger.write(released_outcome(record))
        except Exception:  # the lease frees them in the end
            log.exception("a stopping sender could not give its claims back")

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery failed unexpectedly", exc_info=task.exception())

    async def _take(self, record: Document, claimed_at: float) -> None:
        async with self._slots:
            if self._stopping or time.monotonic() - claimed_at > self.start_within:
                outcome = released_outcome(record)
            else:
                outcome = await self._deliver(record)
        # The slot covers the send only: outcomes are written in groups.
        # The one window: a crash between the server's 250 and this write
        # re-sends after the lease, with the same Message-ID.
        await self.ledger.write(outcome)
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
