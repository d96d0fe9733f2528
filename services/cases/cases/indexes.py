"""Indexes behind every case list and lookup.

The lists (``queries.list_cases``) count and page cases of one workspace,
without the deleted ones, optionally for one process, with ``search=``
(``Contains`` on the case title or the task title) and, for a caller
without PM_ALLCASES, only cases they took part in (``Has`` on
``participants``) or whose process they may see (``In`` on ``pro_uid``).
The multikey and text indexes store ``app_status`` and ``pro_uid`` with
their entries so that those filters are answered from the index too, and a
count never reads a case document; the text index also holds
``participants`` and the sort fields, and matches the workspace, status,
process and participants inside its full-text part (facets). (A
``cat_uid`` filter reads the documents: narrower entries make every count
faster, and it is rare.)

The two counted indexes keep the number of cases per workspace, status and
process, and per participant too, so that a list's exact ``total`` without
``search=`` is a sum over a few dozen combinations, however many cases
match: everything but the deleted ones, one process's, and — for a caller
without PM_ALLCASES — the cases of the processes they may see plus the
ones they took part in elsewhere.
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
        # Exact totals of the lists without search= (see the docstring).
        Index(("workspace", "app_status", "pro_uid"), counted=True),
        Index(
            ("workspace", "participants", "app_status", "pro_uid"),
            array="participants",
            counted=True,
        ),
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
            # Matched with the text inside the full-text index: a search's total
            # costs its text match, not a lookup per matching case.
            facets=("workspace", "app_status", "pro_uid", "participants"),
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
