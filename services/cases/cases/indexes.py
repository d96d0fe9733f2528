"""Indexes behind every case list and lookup."""

from casemesh.store.port import Index
from services.cases.cases import records
from services.cases.cases.snapshot import CURSORS, TIMERS

INDEXES = {
    records.CASES: [
        Index(("workspace", "app_number"), unique=True),
        Index(("workspace", "app_status", "app_number")),
        Index(("workspace", "pro_uid", "app_number")),
        # Update date, then number: the whole order lists.ListQuery.sort asks for.
        Index(("workspace", "updated_at", "app_number")),
        Index(("workspace", "current.usr_uid", "app_number")),
    ],
    records.DELEGATIONS: [
        Index(("app_uid", "del_index")),
        Index(("workspace", "status", "usr_uid", "app_status", "app_number")),
    ],
    TIMERS: [Index(("due_at",))],
    CURSORS: [],
}
