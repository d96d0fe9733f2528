"""Indexes behind every case list and lookup.

The lists (``queries.list_cases``) count and page cases of one workspace,
without the deleted ones, optionally for one process, with ``search=``
(``Contains`` on the case title or the task title) and, for a caller
without PM_ALLCASES, only cases they took part in (``Has`` on
``participants``) or whose process they may see (``In`` on ``pro_uid``).
The multikey and text indexes store ``app_status`` and ``pro_uid`` with
their entries so that those filters are answered from the index too, and a
count never reads a case document; the text index also holds
``participants`` and the sort fields. (A ``cat_uid`` filter reads the
documents: narrower entries make every count faster, and it is rare.)
"""

from casemesh.store.port import Index
from services.cases.cases import records
from services.cases.cases.snapshot import CURSORS, TIMERS

INDEXES = {
    records.CASES: [
        Index(("workspace", "app_number"), unique=True),
        Index(("workspace", "app_status", "app_number")),
        # Counts of a process's cases without the deleted ones read only this.
        Index(("workspace", "pro_uid", "app_status", "app_number")),
        # Update date, then number: the whole order lists.ListQuery.sort asks for.
        Index(("workspace", "updated_at", "app_number")),
        Index(("workspace", "current.usr_uid", "app_number")),
        # Participated / visible cases: one entry per participant.
        Index(
            ("workspace", "participants", "app_status", "pro_uid", "app_number"),
            array="participants",
        ),
        # search=: case-insensitive substrings of either title; with the fields
        # the lists filter and sort on, so that a search never reads more cases
        # than the page shows.
        Index(
            (
                "workspace",
                "app_status",
                "pro_uid",
                "participants",
                "app_number",
                "updated_at",
                "app_title",
                "current.tas_title",
            ),
            text=("app_title", "current.tas_title"),
        ),
    ],
    records.DELEGATIONS: [
        Index(("app_uid", "del_index")),
        Index(("workspace", "status", "usr_uid", "app_status", "app_number")),
        # The Unassigned inbox: open tasks whose pool holds the caller.
        Index(("workspace", "pool", "status", "usr_uid", "app_status", "app_number"), array="pool"),
    ],
    TIMERS: [Index(("due_at",))],
    CURSORS: [],
}
