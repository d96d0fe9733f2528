"""The kinds of notification a user can receive, and turn off one by one."""

from __future__ import annotations

from typing import Literal

NOTE_CREATED = "note_created"
TASK_ASSIGNED = "task_assigned"
TASK_WAITING = "task_waiting"
TASK_OVERDUE = "task_overdue"
CASE_CANCELLED = "case_cancelled"
CASE_COMPLETED = "case_completed"
UPDATE_CREATED = "update_created"

KINDS: dict[str, str] = {
    NOTE_CREATED: "A case note sent to the case's participants",
    TASK_ASSIGNED: "A task assigned to you, reassigned to you or claimed by you",
    TASK_WAITING: "A self-service task waiting for someone of your group to claim it",
    TASK_OVERDUE: "A task past its due date (to its assignee and the supervisors)",
    CASE_CANCELLED: "A case you took part in was cancelled",
    CASE_COMPLETED: "A case you took part in was completed",
    UPDATE_CREATED: "A case update in an access group that asked for it",
}
# The kinds as a type, so request and answer schemas list exactly these.
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]
