"""Delivery records: one per (event, recipient), the ledger that makes e-mail exactly-once.

Life of a record::

    queued --claim--> sending --250--> sent
       ^                 |---4xx/timeout (within the retry period)--> queued (due later)
       |                 |---5xx, no address, or retry period over--> failed
       +-- lease over ---+   (the sender died mid-send: another one takes it)

``due_at`` is when a queued record should be tried, and for a ``sending``
record when its sender's lease ends. Claims are compare-and-set on the
store's ``_version``, so of two instances (or a redelivered event) exactly
one sends.

New records, claims and outcomes can be written several at a time
(``record_all``, ``claim_all``, ``record_outcomes``, and all three kinds
together in the ledger's group commit, through ``apply_in``): one
transaction (one commit) for the lot, but every record keeps its own check — an insert
only if the id is new, a claim or a checked outcome only at the version
read — so batching changes how many commits the service makes, not which
event, sender or outcome wins a record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from casemesh.store.filters import And, Eq, Filter, In, Range, Sort
from casemesh.store.port import (
    Document,
    DocumentStore,
    DuplicateKey,
    Index,
    NotFound,
    Transaction,
    VersionConflict,
)

COLLECTION = "notification_deliveries"
INDEXES = {
    COLLECTION: (
        Index(("status", "due_at")),
        Index(("workspace", "app_uid", "created_at")),
        Index(("workspace", "usr_uid", "created_at")),
        Index(("workspace", "created_at")),
    )
}
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)
PUBLIC_FIELDS = (
    "id", "workspace", "event_id", "event_type", "kind", "usr_uid", "username", "name",
    "email", "app_uid", "app_number", "subject", "message_id", "status", "attempts",
    "last_error", "permanent", "created_at", "updated_at", "sent_at", "due_at",
)  # fmt: skip


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """Fixed-width UTC ISO text, so stored times compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def delivery_id(event_id: str, usr_uid: str) -> str:
    """The record's id: the same (event, recipient) always gives the same id."""
    return hashlib.sha256(f"{event_id}\n{usr_uid}".encode()).hexdigest()[:40]


def new_record(**fields: Any) -> Document:
    moment = stamp(now())
    return {
        **fields,
        "status": QUEUED,
        "attempts": 0,
        "last_error": "",
        "permanent": False,
        "created_at": moment,
        "updated_at": moment,
        "due_at": moment,
        "sent_at": None,
        "claimed_by": "",
    }


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed record, to be written by ``record_outcomes``.

    ``checked``: written only if the record is still at the claim's version.
    """

    doc: Document
    changes: dict[str, Any]
    checked: bool = True


def sent_outcome(doc: Document) -> Outcome:
    # Unconditional: whatever else happened to the record, this message left.
    moment = stamp(now())
    changes = {"status": SENT, "sent_at": moment, "due_at": moment}
    return Outcome(doc, changes, checked=False)


def retry_outcome(doc: Document, when: datetime, error: str) -> Outcome:
    return Outcome(doc, {"status": QUEUED, "due_at": stamp(when), "last_error": error})


def failed_outcome(doc: Document, error: str, *, permanent: bool) -> Outcome:
    return Outcome(doc, {"status": FAILED, "last_error": error, "permanent": permanent})


def released_outcome(doc: Document) -> Outcome:
    """A claim given back unsent (the sender is stopping, or it waited too long to start)."""
    changes = {
        "status": QUEUED,
        "due_at": stamp(now()),
        "attempts": max(doc["attempts"] - 1, 0),
        "claimed_by": "",
    }
    return Outcome(doc, changes)


@dataclass(frozen=True)
class NewRecords:
    """Records to write unless already there (an event's deliveries)."""

    docs: tuple[Document, ...]


@dataclass(frozen=True)
class Claims:
    """Records to claim for ``owner``, each only if still at the version read."""

    docs: tuple[Document, ...]
    owner: str
    lease: float


Write = NewRecords | Claims | Outcome


async def _insert_new(tx: Transaction, docs: Sequence[Document]) -> int:
    """Insert those of ``docs`` not recorded yet; how many."""
    new = 0
    for doc in docs:
        if await tx.get(COLLECTION, doc["id"]) is None:
            await tx.insert(COLLECTION, doc)
            new += 1
    return new


async def _claim(tx: Transaction, claims: Claims, moment: datetime) -> list[Document]:
    claimed = []
    for doc in claims.docs:
        current = await tx.get(COLLECTION, doc["id"])
        if current is None or current["_version"] != doc["_version"]:
            continue  # another sender got it first
        changes = _claim_changes(doc, claims.owner, claims.lease, moment)
        claimed.append(
            await tx.update(COLLECTION, doc["id"], changes, expected_version=doc["_version"])
        )
    return claimed


async def _write_outcome(tx: Transaction, outcome: Outcome, moment: datetime) -> bool:
    doc = outcome.doc
    current = await tx.get(COLLECTION, doc["id"])
    if current is None or (outcome.checked and current["_version"] != doc["_version"]):
        return False  # gone, or another sender took it over: its outcome stands
    changes = {**outcome.changes, "updated_at": stamp(moment)}
    expected = doc["_version"] if outcome.checked else None
    await tx.update(COLLECTION, doc["id"], changes, expected_version=expected)
    return True


def _claim_changes(doc: Document, owner: str, lease: float, moment: datetime) -> dict[str, Any]:
    changes = {
        "status": SENDING,
        "attempts": doc["attempts"] + 1,
        "claimed_by": owner,
        "updated_at": stamp(moment),
        "due_at": stamp(moment + timedelta(seconds=lease)),
    }
    if doc["status"] == SENDING:  # a sender died holding it (or overran its lease)
        changes["last_error"] = f"taken over from {doc['claimed_by']} after its lease ran out"
    return changes


def public(doc: Document) -> dict[str, Any]:
    return {k: doc.get(k) for k in PUBLIC_FIELDS}


class Deliveries:
    """Repository of delivery records over the service's document store."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    @property
    def store(self) -> DocumentStore:
        return self._store

    async def record(self, doc: Document) -> bool:
        """Write a new record; False when this (event, recipient) is already recorded."""
        try:
            await self._store.insert(COLLECTION, doc)
        except DuplicateKey:
            return False
        return True

    async def record_all(self, docs: Sequence[Document]) -> int:
        """Write new records in one transaction (one by one if that fails); how many were new."""
        try:
            async with self._store.transaction() as tx:
                return await _insert_new(tx, docs)
        except (DuplicateKey, VersionConflict):  # raced another instance's insert
            return sum([await self.record(doc) for doc in docs])

    async def get(self, doc_id: str) -> Document | None:
        return await self._store.get(COLLECTION, doc_id)

    async def recorded(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` are recorded already: one read for them all."""
        if not doc_ids:
            return set()
        return {d["id"] for d in await self._store.find(COLLECTION, In("id", list(doc_ids)))}

    async def due(self, *, limit: int) -> list[Document]:
        """Queued records whose time has come and claims whose lease ran out."""
        where = And(In("status", (QUEUED, SENDING)), Range("due_at", lte=stamp(now())))
        return await self._store.find(COLLECTION, where, sort=[Sort("due_at")], limit=limit)

    async def claim(self, doc: Document, *, owner: str, lease: float) -> Document | None:
        """Take ``doc`` for sending; None if another sender changed it first."""
        changes = _claim_changes(doc, owner, lease, now())
        try:
            return await self._store.update(
                COLLECTION, doc["id"], changes, expected_version=doc["_version"]
            )
        except VersionConflict:
            return None

    async def claim_all(
        self, docs: Sequence[Document], *, owner: str, lease: float
    ) -> list[Document]:
        """Take each of ``docs`` that nobody changed since it was read, in one transaction.

        The same compare-and-set as ``claim``, record by record: a record whose
        ``_version`` moved on is left out, the others are claimed together.
        Should the transaction itself fail on a conflict (MongoDB aborts one
        that races another writer), every record is claimed on its own instead.
        """
        if not docs:
            return []
        try:
            async with self._store.transaction() as tx:
                return await _claim(tx, Claims(tuple(docs), owner, lease), now())
        except VersionConflict:
            one_by_one = [await self.claim(doc, owner=owner, lease=lease) for doc in docs]
            return [doc for doc in one_by_one if doc is not None]

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Write several outcomes in one transaction; for each, whether it was written.

        Each keeps its own rule: ``sent`` is written whatever happened to the
        record meanwhile; the others only if its ``_version`` is still the
        one the claim left (else another sender took it over, and its outcome
        stands). Should the transaction fail on a conflict, each outcome is
        written on its own.
        """
        if not outcomes:
            return []
        moment = now()
        try:
            async with self._store.transaction() as tx:
                return [await _write_outcome(tx, outcome, moment) for outcome in outcomes]
        except VersionConflict:
            return [await self._write_one(outcome) for outcome in outcomes]

    async def apply_in(self, tx: Transaction, write: Write) -> Any:
        """A new-records, claims or outcome write in ``tx``, shared with others; its answer.

        For ``NewRecords`` how many were new, for ``Claims`` the records
        claimed, for an ``Outcome`` whether it was written: the same rules,
        record by record, as ``record_all``, ``claim_all`` and
        ``record_outcomes``, only in a transaction other writes share (the
        ledger's group commit). Leaves ``tx`` usable: every record is checked
        before it is written. Should the shared transaction fail, the write is
        applied on its own instead (``apply_alone``).
        """
        if isinstance(write, NewRecords):
            return await _insert_new(tx, write.docs)
        if isinstance(write, Claims):
            return await _claim(tx, write, now())
        return await _write_outcome(tx, write, now())

    async def apply_alone(self, write: Write) -> Any:
        """One write in a transaction of its own (what ``apply`` answers for it)."""
        if isinstance(write, NewRecords):
            return await self.record_all(write.docs)
        if isinstance(write, Claims):
            return await self.claim_all(write.docs, owner=write.owner, lease=write.lease)
        return (await self.record_outcomes([write]))[0]

    async def _write_one(self, outcome: Outcome) -> bool:
        if outcome.checked:
            return await self._settle(outcome.doc, dict(outcome.changes))
        try:
            changes = {**outcome.changes, "updated_at": stamp(now())}
            await self._store.update(COLLECTION, outcome.doc["id"], changes)
        except NotFound:
            return False
        return True

    async def _settle(self, doc: Document, changes: dict[str, Any]) -> bool:
        changes["updated_at"] = stamp(now())
        try:
            await self._store.update(
                COLLECTION, doc["id"], changes, expected_version=doc["_version"]
            )
        except VersionConflict:
            return False  # another sender took it over meanwhile: its outcome stands
        return True

    async def page(self, where: Filter, *, start: int, limit: int) -> tuple[int, list[Document]]:
        total = await self._store.count(COLLECTION, where)
        rows = await self._store.find(
            COLLECTION,
            where,
            sort=[Sort("created_at", descending=True)],
            skip=start,
            limit=limit,
        )
        return total, rows


def visible_to(workspace: str, usr_uid: str | None) -> list[Filter]:
    """Filters of what a caller may see: their own records, or (admins) the workspace's."""
    parts: list[Filter] = [Eq("workspace", workspace)]
    if usr_uid is not None:
        parts.append(Eq("usr_uid", usr_uid))
    return parts
