"""What the notes service keeps from case events: who takes part, and the transitions.

``case.#`` events update ``case_access`` (participants and supervisors of
each case, for searches across cases) and add a ``transition`` entry to the
case's timeline. Redelivered events are dropped by id (the runtime's
deduplicator, and the entry id ``transition:{event id}``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from casemesh.events import Envelope
from casemesh.store.filters import And, Eq, Has, Or
from casemesh.store.port import DocumentStore, DuplicateKey, Index, NotFound, Transaction
from services.notes import clock
from services.notes.entries import ENTRIES, TRANSITION

CASE_ACCESS = "case_access"
INDEXES = {
    CASE_ACCESS: (
        Index(("workspace", "participants")),
        Index(("workspace", "supervisors")),
    )
}
MAX_VISIBLE = 5_000

_WHAT = {
    "case.created": "Case created",
    "case.routed": "Case routed",
    "case.task.assigned": "Task assigned",
    "case.task.unassigned": "Task waiting to be claimed",
    "case.task.overdue": "Task overdue",
    "case.paused": "Case paused",
    "case.unpaused": "Case unpaused",
    "case.cancelled": "Case cancelled",
    "case.completed": "Case completed",
    "case.deleted": "Case deleted",
    "case.variables.changed": "Case data changed",
}


def _uids(people: object) -> list[str]:
    if not isinstance(people, list):
        return []
    return [p["usr_uid"] for p in people if isinstance(p, dict) and p.get("usr_uid")]


def _actor(data: dict) -> dict:
    for key in ("by", "routed_by", "created_by"):
        if isinstance(data.get(key), dict):
            return data[key]
    return {}


def _describe(envelope: Envelope) -> str:
    data = envelope.data
    text = _WHAT.get(envelope.type, envelope.type)
    task = data.get("task") or {}
    if task.get("tas_title"):
        text += f": {task['tas_title']}"
    targets = [t.get("tas_title", "") for t in data.get("to_tasks", []) if isinstance(t, dict)]
    if any(targets):
        text += " to " + ", ".join(t for t in targets if t)
    assignee = data.get("assignee") or {}
    if assignee.get("username"):
        text += f" ({assignee['username']})"
    return text


Write = Callable[[Transaction], Awaitable[None]]


async def apply_case_event(
    store: DocumentStore,
    envelope: Envelope,
    commit: Callable[[Write], Awaitable[None]] | None = None,
) -> None:
    """Project one case event; safe to run twice.

    ``commit`` runs the write in a transaction (the runtime's
    ``handled_with``: shared with the other events handled at the same moment,
    together with the event's de-duplication record); without it, a
    transaction of its own.
    """
    write = case_event_write(envelope)
    if write is None:
        return
    try:
        if commit is not None:
            await commit(write)
            return
        async with store.transaction() as tx:
            await write(tx)
    except DuplicateKey:
        return  # seen already (the transaction took nothing with it)


def case_event_write(envelope: Envelope) -> Write | None:
    """The writes one case event makes (None: nothing to project)."""
    data = envelope.data
    app_uid = data.get("app_uid")
    if not isinstance(app_uid, str) or not app_uid:
        return None
    access = {
        "workspace": envelope.workspace,
        "app_uid": app_uid,
        "app_number": data.get("app_number", 0),
        "app_status": data.get("app_status", ""),
        "participants": _uids(data.get("participants")),
        "supervisors": _uids(data.get("supervisors")),
    }
    actor = _actor(data)
    moment = envelope.time
    entry = {
        "id": f"transition:{envelope.id}",
        "kind": TRANSITION,
        "workspace": envelope.workspace,
        "app_uid": app_uid,
        "app_number": data.get("app_number", 0),
        "author": actor.get("usr_uid", ""),
        "author_name": actor.get("username", ""),
        "at": clock.stamp(moment),
        "at_ms": clock.millis(moment),
        "text": _describe(envelope),
        "event_type": envelope.type,
        "status": data.get("app_status", ""),
    }

    async def write(tx: Transaction) -> None:
        # The transaction serialises writers: no version to check, and no read
        # first (an update finds the document itself; only a case's first
        # event inserts it).
        try:
            await tx.update(CASE_ACCESS, app_uid, access)
        except NotFound:
            await tx.insert(CASE_ACCESS, {"id": app_uid, **access})
        # A redelivered event raises DuplicateKey here: its transaction (a
        # shared one is retried write by write) then leaves nothing behind.
        await tx.insert(ENTRIES, entry)

    return write


async def cases_taken_part_in(store: DocumentStore, workspace: str, usr_uid: str) -> list[str]:
    """Uids of the cases ``usr_uid`` takes part in or supervises (as events told us)."""
    docs = await store.find(
        CASE_ACCESS,
        And(
            Eq("workspace", workspace),
            Or(Has("participants", usr_uid), Has("supervisors", usr_uid)),
        ),
        limit=MAX_VISIBLE,
    )
    return [d["app_uid"] for d in docs]
