"""What the process-definition endpoints answer (``routes.summary`` / ``process_view``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.cases.definitions.model import ProcessDefinition


class ProcessSummary(BaseModel):
    """A process without its definition, as the list shows it."""

    model_config = ConfigDict(extra="forbid")

    pro_uid: str
    workspace: str
    title: str
    description: str
    revision: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class Process(ProcessSummary):
    """The summary plus the definition, as GET, POST and PUT answer (``ETag``: the revision)."""

    definition: ProcessDefinition
