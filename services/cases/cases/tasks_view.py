"""``GET /cases/{app_uid}/tasks``: every task of the process with what happened in it."""

from __future__ import annotations

from services.cases.cases import records
from services.cases.definitions.model import END, ProcessDefinition


def _duration(start: str | None, finish: str | None) -> str:
    if not start or not finish:
        return "Not finished"
    seconds = int((records.parse_date(finish) - records.parse_date(start)).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours} Hours {rest // 60} Minutes {rest % 60} Seconds"


def _delegation(row: dict, users: dict[str, dict]) -> dict:
    user = users.get(row.get("usr_uid") or "", {})
    return {
        "del_index": row["del_index"],
        "del_init_date": row.get("init_date") or "Case not started yet",
        "del_task_due_date": row.get("due_date"),
        "del_finish_date": row.get("finish_date") or "Not finished",
        "del_duration": _duration(row.get("init_date"), row.get("finish_date")),
        "usr_uid": row.get("usr_uid") or "",
        "usr_username": user.get("usr_username", ""),
        "usr_firstname": user.get("usr_firstname", ""),
        "usr_lastname": user.get("usr_lastname", ""),
        "delegation_id": row["id"],
    }


def case_tasks(definition: ProcessDefinition, rows: list[dict], users: dict[str, dict]) -> list:
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["tas_uid"], []).append(row)
    tasks = []
    for task in definition.tasks:
        mine = sorted(by_task.get(task.uid, []), key=lambda r: r["del_index"])
        latest = mine[-1] if mine else {}
        user = users.get(latest.get("usr_uid") or "", {})
        if any(r["status"] == records.OPEN for r in mine):
            status = "TASK_IN_PROGRESS"
        elif mine:
            status = "TASK_COMPLETED"
        else:
            status = "TASK_PENDING_NOT_EXECUTED"
        route = None
        if task.routes is not None:
            route = {
                "type": task.routes.type.value,
                "to": [
                    {
                        "rou_number": n,
                        "rou_condition": target.condition,
                        "tas_uid": -1 if target.task == END else target.task,
                    }
                    for n, target in enumerate(task.routes.to, start=1)
                ],
            }
        tasks.append(
            {
                "tas_uid": task.uid,
                "tas_title": task.title,
                "tas_description": task.description,
                "tas_start": 1 if any(r.get("init_date") for r in mine) else 0,
                "tas_type": task.type.value,
                "tas_derivation": "NORMAL",
                "tas_assign_type": task.assignment.rule.value,
                "usr_uid": latest.get("usr_uid") or "",
                "usr_username": user.get("usr_username", ""),
                "usr_firstname": user.get("usr_firstname", ""),
                "usr_lastname": user.get("usr_lastname", ""),
                "route": route or {"type": "SEQUENTIAL", "to": []},
                "delegations": [_delegation(r, users) for r in mine],
                "status": status,
            }
        )
    return tasks
