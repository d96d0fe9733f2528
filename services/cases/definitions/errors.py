"""Why a process-definition operation failed, with the HTTP status it answers with.

ProcessMaker answers business errors, "not found" included, with 400.
"""

from __future__ import annotations


class DefinitionError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DefinitionInvalid(DefinitionError):
    """The body or file is not a valid process definition."""


class DefinitionNotFound(DefinitionError):
    pass


def not_found(workspace: str, pro_uid: str) -> DefinitionNotFound:
    return DefinitionNotFound(f"the process {pro_uid!r} does not exist in workspace {workspace!r}")


class DefinitionExists(DefinitionError):
    pass


class DefinitionInUse(DefinitionError):
    """Cases still use the process, so it cannot be deleted."""


class RevisionConflict(DefinitionError):
    """The definition changed since the revision the client read."""

    status = 409
