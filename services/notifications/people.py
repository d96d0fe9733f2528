"""Recipients' projection: the e-mail and name last seen for each user in events.

Events carry people with their e-mail; an event that names someone without
one (or with an empty one) is completed from here, so no other service has
to answer for a notification to go out.
"""

from __future__ import annotations

from collections.abc import Iterable

from casemesh.events.cases import Person
from casemesh.store.port import DocumentStore, DuplicateKey, VersionConflict

COLLECTION = "notification_people"


class People:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def remember(self, workspace: str, people: Iterable[Person]) -> None:
        """Keep each person's latest address (writes only what changed)."""
        for person in people:
            if not person.email:
                continue
            doc_id = f"{workspace}:{person.usr_uid}"
            known = await self._store.get(COLLECTION, doc_id)
            fields = {"email": person.email, "name": person.name, "username": person.username}
            try:
                if known is None:
                    await self._store.insert(COLLECTION, {"id": doc_id, **fields})
                elif any(known.get(k) != v for k, v in fields.items()):
                    await self._store.update(
                        COLLECTION, doc_id, fields, expected_version=known["_version"]
                    )
            except (DuplicateKey, VersionConflict):
                continue  # another event wrote this person just now: fine either way

    async def complete(self, workspace: str, person: Person) -> Person:
        """``person`` with the projection's e-mail and name when the event lacks them."""
        if person.email:
            return person
        known = await self._store.get(COLLECTION, f"{workspace}:{person.usr_uid}")
        if known is None:
            return person
        return person.model_copy(
            update={
                "email": known["email"],
                "name": person.name or known.get("name", ""),
                "username": person.username or known.get("username", ""),
            }
        )
