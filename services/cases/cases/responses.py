"""What the case endpoints answer, as pydantic models: the contract ``records.py`` keeps.

The serialisers in ``records.py``, ``tasks_view.py`` and ``lists.py`` build
plain dicts (a list of 10,000 cases is built without a model per row); these
models describe those dicts field by field for the OpenAPI document, and the
contract tests validate real answers against them. ``extra="forbid"``: a field
a serialiser adds without declaring it here breaks those tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ThreadStatus = Literal["OPEN", "CLOSED"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseRow(_Answer):
    """One case in a list (``GET /cases``, ``/draft``, …): ProcessMaker's case object."""

    app_uid: str
    del_index: str
    del_last_index: str
    app_number: str
    app_status: str
    usr_uid: str
    previous_usr_uid: str
    tas_uid: str
    pro_uid: str
    del_delegate_date: str
    del_init_date: str | None
    del_task_due_date: str | None
    del_finish_date: str | None
    del_thread_status: ThreadStatus
    app_thread_status: ThreadStatus
    app_title: str
    app_pro_title: str
    app_tas_title: str
    app_current_user: str
    app_del_previous_user: str
    del_priority: str
    del_duration: str
    del_queue_duration: str
    del_delay_duration: str
    del_started: str
    del_finished: str
    del_delayed: str
    app_create_date: str
    app_finish_date: str | None
    app_update_date: str
    app_overdue_percentage: str
    usr_firstname: str
    usr_lastname: str
    usr_username: str
    appcvcr_app_tas_title: str
    usrcr_usr_uid: str
    usrcr_usr_firstname: str
    usrcr_usr_lastname: str
    usrcr_usr_username: str
    app_status_label: str
    delegation_id: str


class CasePage(_Answer):
    """A ``…/paged`` list: the filters it applied and one page of cases."""

    total: int
    start: int
    limit: int
    sort: str
    dir: Literal["asc", "desc"]
    cat_uid: str
    pro_uid: str
    search: str
    data: list[CaseRow]


class AdvancedCasePage(CasePage):
    app_status: str
    usr_uid: str
    date_from: str
    date_to: str


class CurrentTask(_Answer):
    usr_uid: str
    usr_name: str
    tas_uid: str
    tas_title: str
    del_index: int
    del_thread: int
    del_thread_status: ThreadStatus
    delegation_id: str


class CaseInfo(_Answer):
    """``GET /cases/{app_uid}``."""

    app_uid: str
    app_number: str
    app_name: str
    app_status: str
    app_init_usr_uid: str
    app_init_usr_username: str
    pro_uid: str
    pro_name: str
    app_create_date: str
    app_update_date: str
    current_task: list[CurrentTask]


class CurrentTaskRef(_Answer):
    """One element of ``GET /cases/{app_uid}/current-task``."""

    tas_uid: str
    tas_title: str
    del_index: str
    delegation_id: str


class RouteStep(_Answer):
    rou_number: int
    rou_condition: str
    tas_uid: str | Literal[-1]  # -1: the end of the process


class TaskRoute(_Answer):
    type: str
    to: list[RouteStep]


class TaskDelegation(_Answer):
    del_index: int
    del_init_date: str
    del_task_due_date: str | None
    del_finish_date: str
    del_duration: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    delegation_id: str


class CaseTask(_Answer):
    """One element of ``GET /cases/{app_uid}/tasks``: a task of the process and its history."""

    tas_uid: str
    tas_title: str
    tas_description: str
    tas_start: Literal[0, 1]
    tas_type: str
    tas_derivation: str
    tas_assign_type: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    route: TaskRoute
    delegations: list[TaskDelegation]
    status: Literal["TASK_IN_PROGRESS", "TASK_COMPLETED", "TASK_PENDING_NOT_EXECUTED"]


class CaseCreated(_Answer):
    """``POST /cases`` and ``/cases/impersonate``."""

    app_uid: str
    app_number: int
