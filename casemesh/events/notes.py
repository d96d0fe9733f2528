"""Events of the notes service: case notes, case updates and task logs.

Each carries what a subscriber needs without calling back: the case, the
author, a text preview (and the full text where it is short), and a hint of
who should hear about it.
"""

from __future__ import annotations

from casemesh.events.cases import Person
from casemesh.events.catalogue import EventData, event

PREVIEW_LENGTH = 200


def preview(text: str) -> str:
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


class EntryEvent(EventData):
    """Fields every entry event has."""

    entry_id: str
    app_uid: str
    app_number: int
    app_title: str = ""
    author: Person
    preview: str = ""


@event("note.created")
class NoteCreated(EntryEvent):
    """A ProcessMaker case note; with send_mail, every participant is e-mailed the text."""

    text: str  # at most 500 characters
    send_mail: bool = False
    participants: list[Person] = []  # the recipients' hint: everyone assigned a task of the case


class UpdateEvent(EntryEvent):
    """Fields every Trackops case-update event has."""

    update_id: int
    access_group: str  # the directory group (grp_uid) whose members see the update
    access_group_id: int
    title: str
    thread_id: int
    is_validated: bool | None = None


@event("update.created")
class UpdateCreated(UpdateEvent):
    """A case update was written (staff or customer communication)."""

    text: str = ""  # the body as stored: sanitised basic HTML
    recipients: list[Person] = []  # the recipients' hint: the access group's active members


@event("update.updated")
class UpdateChanged(UpdateEvent):
    """A case update changed; ``changed`` names the fields."""

    changed: list[str] = []


@event("update.validated")
class UpdateValidated(UpdateEvent):
    """A case update was validated or invalidated (``is_validated``) by ``validated_by``."""

    validated_by: Person
    validated_at: str


class LogEvent(EntryEvent):
    """Fields every TheHive task-log event has."""

    log_id: str
    task_id: str  # the delegation id
    tas_uid: str = ""
    status: str = "Ok"


@event("log.created")
class LogCreated(LogEvent):
    """A task log was written."""


@event("log.updated")
class LogUpdated(LogEvent):
    """A task log's message (or other fields) changed."""

    changed: list[str] = []


@event("log.deleted")
class LogDeleted(LogEvent):
    """A task log was marked Deleted (it stays, with ``status: "Deleted"``)."""
