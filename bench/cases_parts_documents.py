"""The documents a case's life writes: the shapes of services/cases/cases/workflow.py.

``CaseLife`` replays a case's transactions (start, routing, pause, cancel)
as the cases service writes them, from the routing states of its process
(``RoutingStates``: computed once by the real engine in ``bench_cases.Shapes``,
or read back from JSON). Nothing here imports services/, so the raw-parts
processes of ``bench cases`` (bench/cases_parts_cases.py) write the same
documents as the platform without its code.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

OPEN, CLOSED = "OPEN", "CLOSED"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class RoutingStates:
    """A sequential process's routing state after each routing, and after a cancel there."""

    definition: dict
    tasks: list[tuple[str, str]]  # (tas_uid, tas_title) in order
    after: list[dict]  # after[k]: the state after k routings (0 = just started)
    cancelled: list[dict]  # cancelled[k]: cancelled after k routings
    category: dict

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RoutingStates:
        return cls(
            definition=data["definition"],
            tasks=[(uid, title) for uid, title in data["tasks"]],
            after=data["after"],
            cancelled=data["cancelled"],
            category=data["category"],
        )


# Case fields copied onto each delegation row (services/cases/cases/snapshot.py).
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
CURRENT_FIELDS = (
    "id",
    "del_index",
    "thread",
    "tas_uid",
    "tas_title",
    "status",
    "usr_uid",
    "previous_usr_uid",
    "delegate_date",
    "init_date",
    "due_date",
    "finish_date",
)


def stamp(seconds: float) -> str:
    return time.strftime(DATE_FORMAT, time.gmtime(seconds))


@dataclass
class Write:
    """One transaction of a case's life: inserts and (collection, id, changes) updates."""

    inserts: list[tuple[str, dict]] = field(default_factory=list)
    updates: list[tuple[str, str, dict]] = field(default_factory=list)


@dataclass
class CaseLife:
    """A case and its delegations as services/cases writes them, step by step.

    ``start`` is POST /cases, ``route`` PUT route-case (sequential process,
    the routed user hands over to ``next_user``), ``pause``, ``cancel`` and
    ``delete`` the actions of services/cases/cases/actions.py. Each returns
    the transaction's writes; ``case`` and ``rows`` hold the documents as
    stored after it.
    """

    shapes: RoutingStates
    # Where uids and pins come from: seeded for bulk loading, else random.
    rng: random.Random | None = None
    case: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    routed: int = 0

    def _uid(self) -> str:
        if self.rng is None:
            return uuid.uuid4().hex
        return f"{self.rng.getrandbits(128):032x}"

    def _shared(self) -> dict:
        return {name: self.case.get(name) for name in SHARED_FIELDS}

    def _row(self, index: int, user: str, previous: str, when: str) -> dict:
        tas_uid, tas_title = self.shapes.tasks[index - 1]
        return {
            "id": self._uid(),
            "workspace": self.case["workspace"],
            "app_uid": self.case["app_uid"],
            "del_index": index,
            "thread": 1,
            "tas_uid": tas_uid,
            "tas_title": tas_title,
            "status": OPEN,
            "usr_uid": user,
            "previous_usr_uid": previous,
            "pool": [],
            "delegate_date": when,
            "init_date": when,
            "due_date": None,
            "finish_date": None,
        }

    def start(
        self,
        *,
        workspace: str,
        number: int,
        title: str,
        user: str,
        when: str,
        variables: dict,
        draft: bool = False,
    ) -> Write:
        app_uid = self._uid()
        definition = self.shapes.definition
        self.case = {
            "id": app_uid,
            "workspace": workspace,
            "app_uid": app_uid,
            "app_number": number,
            "app_title": title,
            "app_status": "DRAFT" if draft else "TO_DO",
            "pro_uid": definition["uid"],
            "pro_title": definition["title"],
            "cat_uid": self.shapes.category.get("uid", ""),
            "init_usr_uid": user,
            "created_at": when,
            "updated_at": when,
            "finished_at": None,
            "last_index": 1,
            "variables": variables,
            "routing": self.shapes.after[0],
            "participants": [user],
            "delegation_ids": {},
            "pause": None,
            "pin": f"{self.rng.getrandbits(16) if self.rng else int.from_bytes(os.urandom(2)):04X}",
        }
        row = self._row(1, user, "", when)
        self.case["delegation_ids"]["1"] = row["id"]
        self.case["current"] = {k: row.get(k) for k in CURRENT_FIELDS}
        self.rows = [{**row, **self._shared()}]
        return Write(inserts=[("cases", dict(self.case)), ("delegations", dict(self.rows[0]))])

    def route(self, next_user: str, when: str) -> Write:
        """Route the open delegation to the next task (or to the end)."""
        row = self.rows[-1]
        before = dict(row)
        self.routed += 1
        done = self.routed == len(self.shapes.tasks)
        case = self.case
        case["routing"] = self.shapes.after[self.routed]
        case["updated_at"] = when
        created = None
        if not done:
            created = self._row(self.routed + 1, next_user, row["usr_uid"], when)
            case["delegation_ids"][str(created["del_index"])] = created["id"]
            case["last_index"] = created["del_index"]
            case["participants"] = list(dict.fromkeys([*case["participants"], next_user]))
        case["app_status"] = "COMPLETED" if done else "TO_DO"
        if done:
            case["finished_at"] = when
        # The real command takes `current` from the rows as read, before closing them.
        case["current"] = {k: (created or before).get(k) for k in CURRENT_FIELDS}
        shared = self._shared()
        closing = {**shared, "status": CLOSED, "finish_date": when}
        self.rows[-1] = {**row, **closing}
        write = Write(updates=[("cases", case["id"], _changes(case))])
        write.updates.append(("delegations", row["id"], closing))
        if created is not None:
            created = {**created, **shared}
            self.rows.append(created)
            write.inserts.append(("delegations", dict(created)))
        return write

    def pause(self, by: str, when: str, until: str | None) -> Write:
        case = self.case
        case["updated_at"] = when
        case["pause"] = {"previous_status": case["app_status"], "by": by, "until": until}
        case["app_status"] = "PAUSED"
        return self._refresh_open()

    def cancel(self, when: str, status: str = "CANCELLED") -> Write:
        """Cancel (or, for ``status`` DELETED, delete): every open delegation closed."""
        case = self.case
        case["updated_at"] = when
        case["finished_at"] = when
        case["routing"] = self.shapes.cancelled[self.routed]
        case["current"] = {**case["current"], "status": CLOSED}
        case["app_status"] = status
        return self._refresh_open(status=CLOSED, finish_date=when)

    def _refresh_open(self, **changes: Any) -> Write:
        write = Write(updates=[("cases", self.case["id"], _changes(self.case))])
        shared = self._shared()
        for i, row in enumerate(self.rows):
            if row["status"] == OPEN:
                update = {**shared, **changes}
                self.rows[i] = {**row, **update}
                write.updates.append(("delegations", row["id"], update))
        return write


def _changes(case: dict) -> dict:
    return {k: v for k, v in case.items() if k not in ("id", "_version")}
