"""Users as case events describe them (``Person``), built from directory records."""

from __future__ import annotations

from collections.abc import Iterable

from casemesh.events.cases import Person


def person(uid: str, users: dict[str, dict]) -> Person:
    user = users.get(uid, {})
    first, last = user.get("usr_firstname", ""), user.get("usr_lastname", "")
    return Person(
        usr_uid=uid,
        username=user.get("usr_username", ""),
        name=f"{first} {last}".strip() or user.get("usr_username", ""),
        email=user.get("usr_email", ""),
    )


def people(uids: Iterable[str], users: dict[str, dict]) -> list[Person]:
    return [person(uid, users) for uid in dict.fromkeys(uids) if uid]
