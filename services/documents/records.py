"""Document records: one per version of a document, with its files' hashes and blob keys.

A record is ``{id: "<app_doc_uid>.<version>", app_doc_uid, version, latest,
workspace, app_uid, app_number, kind (INPUT|OUTPUT|ATTACHMENT|CASE_FILE),
doc_uid, tas_uid, del_index, delegation_id, app_doc_index, status
(ACTIVE|DELETED), comment, created_at, created_by, sha256 (of the main
file), files: {label: {filename, size, content_type, sha256, sha1, md5,
key}}}``. Writing one claims its blobs in the same transaction (see
``blobs``), so no metadata exists for bytes that were not stored and no
blob outlives the last record that refers to it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from casemesh.events import Envelope
from casemesh.identity import Identity
from casemesh.store.filters import And, Eq
from casemesh.store.port import DocumentStore, DuplicateKey, Index, Transaction
from casemesh.web.errors import ApiError
from services.documents.blobs import BLOBS, Blobs, Stored

DOCUMENTS = "documents"
ACTIVE, DELETED = "ACTIVE", "DELETED"
INDEXES = {
    DOCUMENTS: (
        Index(("app_uid", "kind")),
        Index(("app_doc_uid", "version")),
        Index(("workspace", "kind", "sha256")),
    ),
    BLOBS: (Index(("workspace", "sha256")),),
}
EventsFor = Callable[[dict], Sequence[Envelope]]


def new_uid() -> str:
    return uuid.uuid4().hex


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def author(who: Identity) -> dict:
    return {
        "usr_uid": who.user_uid,
        "username": who.username,
        "first_name": who.first_name,
        "last_name": who.last_name,
        "email": who.email,
    }


class Documents:
    def __init__(self, store: DocumentStore, blobs: Blobs) -> None:
        self.store = store
        self.blobs = blobs

    async def add(
        self,
        record: dict,
        stored: dict[str, tuple[Stored, str]],
        *,
        events: EventsFor,
        new_index: bool = True,
        supersedes: dict | None = None,
        replaces: dict | None = None,
    ) -> dict:
        """Write ``record`` with its files (label -> (upload, filename)); clean up after."""
        try:
            for attempt in range(3):
                try:
                    saved, obsolete = await self._write(
                        record, stored, events, new_index, supersedes, replaces
                    )
                    break
                except DuplicateKey:
                    if attempt == 2:
                        raise ApiError(409, "the document changed meanwhile; try again") from None
        except BaseException:
            for upload, _ in stored.values():
                await self.blobs.discard_key(upload.key)
            raise
        for key in obsolete:
            await self.blobs.discard_key(key)
        return saved

    async def _write(self, record, stored, events, new_index, supersedes, replaces):
        obsolete: list[str] = []
        async with self.store.transaction() as tx:
            files = {}
            for label, (upload, filename) in stored.items():
                key, duplicate = await self.blobs.claim(tx, upload)
                files[label] = {**upload.file(filename), "key": key}
                if duplicate:
                    obsolete.append(duplicate)
            doc = {**record, "files": files, "latest": True}
            first = next(iter(files.values()), None)
            doc["sha256"] = first["sha256"] if first else ""
            if replaces is not None:
                obsolete += await self._release_files(tx, replaces)
                await tx.delete(DOCUMENTS, replaces["id"], expected_version=replaces["_version"])
            if supersedes is not None:
                await tx.update(
                    DOCUMENTS,
                    supersedes["id"],
                    {"latest": False},
                    expected_version=supersedes["_version"],
                )
            if new_index:
                doc["app_doc_index"] = await tx.next_value("app_doc_index", doc["app_uid"])
            saved = await tx.insert(DOCUMENTS, doc)
            for envelope in events(saved):
                tx.emit(envelope)
        return saved, obsolete

    async def _release_files(self, tx: Transaction, doc: dict) -> list[str]:
        keys = []
        for f in doc.get("files", {}).values():
            key = await self.blobs.release(tx, doc["workspace"], f["sha256"])
            if key:
                keys.append(key)
        return keys

    async def latest(self, app_uid: str, kind: str) -> list[dict]:
        found = await self.store.find(
            DOCUMENTS, And(Eq("app_uid", app_uid), Eq("kind", kind), Eq("latest", True))
        )
        return sorted(found, key=lambda d: d.get("app_doc_index", 0))

    async def all_of_case(self, app_uid: str, kind: str) -> list[dict]:
        found = await self.store.find(DOCUMENTS, And(Eq("app_uid", app_uid), Eq("kind", kind)))
        return sorted(found, key=lambda d: (d.get("app_doc_index", 0), d["version"]))

    async def versions(self, app_doc_uid: str) -> list[dict]:
        found = await self.store.find(DOCUMENTS, Eq("app_doc_uid", app_doc_uid))
        return sorted(found, key=lambda d: d["version"])

    async def version(self, app_doc_uid: str, version: int | None = None) -> dict | None:
        rows = await self.versions(app_doc_uid)
        if version is None:
            return next((r for r in rows if r.get("latest")), rows[-1] if rows else None)
        return next((r for r in rows if r["version"] == version), None)

    async def by_hash(self, workspace: str, kind: str, sha256: str) -> list[dict]:
        return await self.store.find(
            DOCUMENTS,
            And(Eq("workspace", workspace), Eq("kind", kind), Eq("sha256", sha256)),
            limit=50,
        )

    async def mark_deleted(self, app_doc_uid: str, events: EventsFor) -> None:
        """Every version DELETED (record and bytes stay, as ProcessMaker does)."""
        async with self.store.transaction() as tx:
            for row in await self.versions(app_doc_uid):
                fresh = await tx.get(DOCUMENTS, row["id"])
                if fresh is not None and fresh["status"] != DELETED:
                    await tx.update(DOCUMENTS, row["id"], {"status": DELETED})
            latest = await self.version(app_doc_uid)
            if latest is not None:
                for envelope in events(latest):
                    tx.emit(envelope)

    async def purge(self, doc: dict) -> None:
        """Remove a record for good and release its blobs."""
        async with self.store.transaction() as tx:
            keys = await self._release_files(tx, doc)
            await tx.delete(DOCUMENTS, doc["id"])
        for key in keys:
            with contextlib.suppress(Exception):
                await self.blobs.discard_key(key)
