"""Who may read and write which entries: pure rules over the caller and the case's facts.

- ProcessMaker notes: reading needs a process permission on ``CASES_NOTES``
  (or ``ANY``) with action ``VIEW`` for the user or one of their groups, as
  the seed says (being assigned is not enough); creating needs ``PM_CASES``
  and either an open task of the case assigned to the user or that permission.
- TheHive logs: reading needs to see the case (``PM_ALLCASES``, participant,
  supervisor, or a process permission on ``ANY``/``CASE_DATA``/``CASES_NOTES``);
  writing needs ``PM_CASES`` and to take part in the case (participant,
  supervisor, ``PM_ALLCASES``); changing or deleting a log needs to be its
  author, a supervisor of the case, or an administrator.
- Every rule first requires the case to be in the caller's workspace.
"""

from __future__ import annotations

from casemesh.identity import PM_ALLCASES, PM_CASES, Identity
from services.notes.casefacts import CaseFacts

NOTES_OBJECTS = ("ANY", "CASES_NOTES")
CASE_OBJECTS = ("ANY", "CASE_DATA", "CASES_NOTES")


def same_workspace(who: Identity, facts: CaseFacts) -> bool:
    return who.workspace == facts.workspace


def permitted(who: Identity, facts: CaseFacts, objects: tuple[str, ...], action: str) -> bool:
    groups = set(who.groups)
    return any(
        p.get("object") in objects
        and p.get("action", "VIEW") == action
        and (who.user_uid in p.get("users", ()) or groups & set(p.get("groups", ())))
        for p in facts.permissions
    )


def assigned(who: Identity, facts: CaseFacts) -> bool:
    return any(
        d.get("usr_uid") == who.user_uid and d.get("status") == "OPEN" for d in facts.delegations
    )


def supervises(who: Identity, facts: CaseFacts) -> bool:
    return who.user_uid in facts.supervisors


def can_read_notes(who: Identity, facts: CaseFacts) -> bool:
    return same_workspace(who, facts) and permitted(who, facts, NOTES_OBJECTS, "VIEW")


def can_create_note(who: Identity, facts: CaseFacts) -> bool:
    return (
        same_workspace(who, facts)
        and who.can(PM_CASES)
        and (assigned(who, facts) or permitted(who, facts, NOTES_OBJECTS, "VIEW"))
    )


def can_view_case(who: Identity, facts: CaseFacts) -> bool:
    if not same_workspace(who, facts):
        return False
    return (
        who.can(PM_ALLCASES)
        or who.user_uid in facts.participants
        or supervises(who, facts)
        or permitted(who, facts, CASE_OBJECTS, "VIEW")
    )


def can_write_log(who: Identity, facts: CaseFacts) -> bool:
    return (
        same_workspace(who, facts)
        and who.can(PM_CASES)
        and (who.can(PM_ALLCASES) or who.user_uid in facts.participants or supervises(who, facts))
    )


def can_change_log(who: Identity, facts: CaseFacts, author: str) -> bool:
    return same_workspace(who, facts) and (
        who.user_uid == author or supervises(who, facts) or who.is_admin
    )
