"""The shapes cases and delegations take in storage, and ProcessMaker's views of them.

Storage keeps dates as ``YYYY-MM-DD HH:MM:SS`` UTC strings (ProcessMaker's
format, and they sort as text). ProcessMaker returns most numbers as strings;
the serialisers here follow the seed's examples field by field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CASES = "cases"
DELEGATIONS = "delegations"

TO_DO, DRAFT, PAUSED = "TO_DO", "DRAFT", "PAUSED"
COMPLETED, CANCELLED, DELETED, UNASSIGNED = "COMPLETED", "CANCELLED", "DELETED", "UNASSIGNED"
STATUS_LABELS = {
    TO_DO: "To do",
    DRAFT: "Draft",
    PAUSED: "Paused",
    COMPLETED: "Completed",
    CANCELLED: "Cancelled",
    DELETED: "Deleted",
    UNASSIGNED: "Unassigned",
}
ACTIVE_STATUSES = (TO_DO, DRAFT, UNASSIGNED)
OPEN, CLOSED = "OPEN", "CLOSED"

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def now_text() -> str:
    return datetime.now(UTC).strftime(DATE_FORMAT)


def format_date(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime(DATE_FORMAT) if moment else None


def parse_date(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)


def _name(user: dict | None) -> tuple[str, str, str]:
    if not user:
        return "", "", ""
    return user.get("usr_firstname", ""), user.get("usr_lastname", ""), user.get("usr_username", "")


def list_row(case: dict, delegation: dict, users: dict[str, dict]) -> dict[str, Any]:
    """One case in a list (``GET /cases``, ``/paged``, …), as the seed's case object."""
    current = users.get(delegation.get("usr_uid") or "")
    previous = users.get(delegation.get("previous_usr_uid") or "")
    first, last, username = _name(current)
    prev_first, prev_last, _ = _name(previous)
    status = case["app_status"]
    return {
        "app_uid": case["app_uid"],
        "del_index": str(delegation["del_index"]),
        "del_last_index": str(case.get("last_index", delegation["del_index"])),
        "app_number": str(case["app_number"]),
        "app_status": status,
        "usr_uid": delegation.get("usr_uid") or "",
        "previous_usr_uid": delegation.get("previous_usr_uid") or "",
        "tas_uid": delegation["tas_uid"],
        "pro_uid": case["pro_uid"],
        "del_delegate_date": delegation["delegate_date"],
        "del_init_date": delegation.get("init_date"),
        "del_task_due_date": delegation.get("due_date"),
        "del_finish_date": delegation.get("finish_date"),
        "del_thread_status": delegation["status"],
        "app_thread_status": CLOSED if status in (COMPLETED, CANCELLED, DELETED) else OPEN,
        "app_title": case["app_title"],
        "app_pro_title": case["pro_title"],
        "app_tas_title": delegation["tas_title"],
        "app_current_user": f"{last} {first}" if current else "",
        "app_del_previous_user": f"{prev_last} {prev_first}" if previous else "",
        "del_priority": "NORMAL",
        "del_duration": "0",
        "del_queue_duration": "0",
        "del_delay_duration": "0",
        "del_started": "0",
        "del_finished": "0",
        "del_delayed": "0",
        "app_create_date": case["created_at"],
        "app_finish_date": case.get("finished_at"),
        "app_update_date": case["updated_at"],
        "app_overdue_percentage": "0",
        "usr_firstname": first,
        "usr_lastname": last,
        "usr_username": username,
        "appcvcr_app_tas_title": delegation["tas_title"],
        "usrcr_usr_uid": delegation.get("usr_uid") or "",
        "usrcr_usr_firstname": first,
        "usrcr_usr_lastname": last,
        "usrcr_usr_username": username,
        "app_status_label": STATUS_LABELS.get(status, status.title()),
        "delegation_id": delegation["id"],
    }


def case_info(case: dict, open_delegations: list[dict], users: dict[str, dict]) -> dict:
    """``GET /cases/{app_uid}``: the case and its current task(s)."""
    initiator = users.get(case["init_usr_uid"], {})
    return {
        "app_uid": case["app_uid"],
        "app_number": str(case["app_number"]),
        "app_name": case["app_title"],
        "app_status": case["app_status"],
        "app_init_usr_uid": case["init_usr_uid"],
        "app_init_usr_username": initiator.get("usr_username", ""),
        "pro_uid": case["pro_uid"],
        "pro_name": case["pro_title"],
        "app_create_date": case["created_at"],
        "app_update_date": case["updated_at"],
        "current_task": [current_task(d, users) for d in open_delegations],
    }


def current_task(delegation: dict, users: dict[str, dict]) -> dict:
    user = users.get(delegation.get("usr_uid") or "", {})
    first, last, _ = _name(user)
    return {
        "usr_uid": delegation.get("usr_uid") or "",
        "usr_name": f"{first} {last}".strip(),
        "tas_uid": delegation["tas_uid"],
        "tas_title": delegation["tas_title"],
        "del_index": delegation["del_index"],
        "del_thread": delegation["thread"],
        "del_thread_status": delegation["status"],
        "delegation_id": delegation["id"],
    }
