"""Recipients' projection: the e-mail and name last seen for each user in events.

Events carry people with their e-mail; an event that names someone without
one (or with an empty one) is completed from here, so no other service has
to answer for a notification to go out.
"""

from __future__ import annotations

from collections.abc import Iterable

from casemesh.events.cases import Person
from casemesh.store.filters import In
from casemesh.store.port import Document, DocumentStore, DuplicateKey, VersionConflict

COLLECTION = "notification_people"


class People:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        # doc id -> the fields this process last read or wrote for it. Nearly
        # every event names people whose address has not changed: those need
        # no read at all (one store read per event before).
        self._seen: dict[str, dict[str, str]] = {}

    async def remember(self, workspace: str, people: Iterable[Person]) -> None:
        """Keep each person's latest address: one read for them all, writes only what changed."""
        with_address = [
            p
            for p in people
            if p.email and self._seen.get(_doc_id(workspace, p.usr_uid)) != _fields(p)
        ]
        if not with_address:
            return
        known = await self._known(workspace, [p.usr_uid for p in with_address])
        for person in with_address:
            doc_id = _doc_id(workspace, person.usr_uid)
            fields = _fields(person)
            current = known.get(doc_id)
            try:
                if current is None:
                    await self._store.insert(COLLECTION, {"id": doc_id, **fields})
                    known[doc_id] = {"id": doc_id, **fields, "_version": 1}
                elif any(current.get(k) != v for k, v in fields.items()):
                    known[doc_id] = await self._store.update(
                        COLLECTION, doc_id, fields, expected_version=current["_version"]
                    )
            except (DuplicateKey, VersionConflict):
                continue  # another event wrote this person just now: fine either way
            self._note(doc_id, fields)

    async def complete(self, workspace: str, person: Person) -> Person:
        """``person`` with the projection's e-mail and name when the event lacks them."""
        return (await self.complete_all(workspace, [person]))[0]

    async def complete_all(self, workspace: str, people: list[Person]) -> list[Person]:
        """Each of ``people`` completed from the projection (one read for those without e-mail)."""
        known = await self._known(workspace, [p.usr_uid for p in people if not p.email])
        return [_completed(p, known.get(_doc_id(workspace, p.usr_uid))) for p in people]

    async def _known(self, workspace: str, usr_uids: list[str]) -> dict[str, Document]:
        if not usr_uids:
            return {}
        ids = [_doc_id(workspace, u) for u in usr_uids]
        return {d["id"]: d for d in await self._store.find(COLLECTION, In("id", ids))}

    def _note(self, doc_id: str, fields: dict[str, str]) -> None:
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen[doc_id] = fields


MAX_SEEN = 10_000


def _fields(person: Person) -> dict[str, str]:
    return {"email": person.email, "name": person.name, "username": person.username}


def _doc_id(workspace: str, usr_uid: str) -> str:
    return f"{workspace}:{usr_uid}"


def _completed(person: Person, known: Document | None) -> Person:
    if person.email or known is None:
        return person
    return person.model_copy(
        update={
            "email": known["email"],
            "name": person.name or known.get("name", ""),
            "username": person.username or known.get("username", ""),
        }
    )
