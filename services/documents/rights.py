"""Who may see and change which documents: pure rules over the caller and the case's facts.

Input documents (the seed): listing and reading need to be assigned an open
task of the case, or a process permission on INPUT_DOCUMENTS (or ANY) with
VIEW; uploading needs ``PM_CASES`` and to be assigned an open task of the
case, or to be a supervisor of the process with a permission on the object;
deleting needs a DELETE permission on it (or administrator rights).
Output documents follow the same rules on OUTPUT_DOCUMENTS. Task-log
attachments and Kibana case files: viewing the case (``PM_ALLCASES``,
participant, supervisor, or a process permission on ANY/CASE_DATA/
ATTACHMENTS); attaching needs ``PM_CASES`` as well. Every rule first
requires the case to be in the caller's workspace.
"""

from __future__ import annotations

from casemesh.identity import PM_ALLCASES, PM_CASES, Identity
from services.documents.facts import CaseFacts

INPUT = ("ANY", "INPUT_DOCUMENTS")
OUTPUT = ("ANY", "OUTPUT_DOCUMENTS")
CASE = ("ANY", "CASE_DATA", "ATTACHMENTS")


def permitted(who: Identity, facts: CaseFacts, objects: tuple[str, ...], *actions: str) -> bool:
    groups = set(who.groups)
    return any(
        p.get("object") in objects
        and p.get("action", "VIEW") in actions
        and (who.user_uid in p.get("users", ()) or groups & set(p.get("groups", ())))
        for p in facts.permissions
    )


def assigned(who: Identity, facts: CaseFacts, tas_uid: str | None = None) -> bool:
    return any(
        d.get("usr_uid") == who.user_uid
        and d.get("status") == "OPEN"
        and (tas_uid is None or d.get("tas_uid") == tas_uid)
        for d in facts.delegations
    )


def can_view(who: Identity, facts: CaseFacts, objects: tuple[str, ...]) -> bool:
    return who.workspace == facts.workspace and (
        assigned(who, facts) or who.is_admin or permitted(who, facts, objects, "VIEW", "EDIT")
    )


def can_upload(who: Identity, facts: CaseFacts, objects: tuple[str, ...]) -> bool:
    if who.workspace != facts.workspace or not who.can(PM_CASES):
        return False
    supervisor = who.user_uid in facts.supervisors and permitted(
        who, facts, objects, "VIEW", "EDIT"
    )
    return assigned(who, facts) or supervisor or who.is_admin


def can_delete(who: Identity, facts: CaseFacts, objects: tuple[str, ...]) -> bool:
    return who.workspace == facts.workspace and (
        who.is_admin or permitted(who, facts, objects, "DELETE")
    )


def can_view_case(who: Identity, facts: CaseFacts) -> bool:
    return who.workspace == facts.workspace and (
        who.can(PM_ALLCASES)
        or who.user_uid in facts.participants
        or who.user_uid in facts.supervisors
        or permitted(who, facts, CASE, "VIEW", "EDIT")
    )


def can_attach(who: Identity, facts: CaseFacts) -> bool:
    return can_view_case(who, facts) and who.can(PM_CASES)
