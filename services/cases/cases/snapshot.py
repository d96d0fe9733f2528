"""A case being changed: its documents as read, and the writes one command makes.

Commands read a case, decide, and write everything in one transaction with an
optimistic version check on the case document, so two commands racing on
the same case cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from casemesh.events import Envelope
from casemesh.store.port import NotFound, Transaction
from services.cases.cases import records


@dataclass
class CaseChange:
    case: dict[str, Any]
    version: int
    # Delegation rows still open before the change: they carry copies of the
    # case's fields (status, title…), refreshed with every change.
    open_rows: list[dict[str, Any]] = field(default_factory=list)
    delegation_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_delegations: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    cursor_updates: dict[str, int] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)

    def update_delegation(self, del_id: str, **changes: Any) -> None:
        self.delegation_updates.setdefault(del_id, {}).update(changes)

    async def write(self, tx: Transaction) -> None:
        case = {k: v for k, v in self.case.items() if k not in ("id", "_version")}
        await tx.update(records.CASES, self.case["id"], case, expected_version=self.version)
        shared = case_fields(self.case)
        for row in self.open_rows:
            self.delegation_updates.setdefault(row["id"], {})
        for del_id, changes in self.delegation_updates.items():
            await tx.update(records.DELEGATIONS, del_id, {**shared, **changes})
        for delegation in self.new_delegations:
            await tx.insert(records.DELEGATIONS, {**delegation, **shared})
        for timer in self.timers:
            existing = await tx.get(TIMERS, timer["id"])
            if existing is not None:
                await tx.delete(TIMERS, timer["id"])
            await tx.insert(TIMERS, timer)
        for timer_id in self.cancelled_timers:
            if await tx.get(TIMERS, timer_id) is not None:
                await tx.delete(TIMERS, timer_id)
        for cursor_id, value in self.cursor_updates.items():
            try:  # an update reads the document itself: no read first
                await tx.update(CURSORS, cursor_id, {"value": value})
            except NotFound:
                await tx.insert(CURSORS, {"id": cursor_id, "value": value})
        for event in self.events:
            tx.emit(event)


TIMERS = "case_timers"
CURSORS = "balanced_cursors"

# Case fields copied onto each delegation row so lists need one query.
SHARED_FIELDS = (
    "workspace",
    "app_uid",
    "app_number",
    "app_title",
    "app_status",
    "pro_uid",
    "pro_title",
    "cat_uid",
    "created_at",
    "updated_at",
    "finished_at",
    "last_index",
    "init_usr_uid",
)


def case_fields(case: dict[str, Any]) -> dict[str, Any]:
    return {name: case.get(name) for name in SHARED_FIELDS}


def new_delegation_id() -> str:
    """Stable, unique and URL-safe: TheHive-dialect task logs hang on it."""
    return uuid.uuid4().hex
