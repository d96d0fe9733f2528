"""Errors of the workflow engine.

Every error carries a message a person can act on; the cases service turns
them into ProcessMaker's ``{"error": {"code": 400, "message": "Bad Request: …"}}``.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every engine error; ``message`` is the human-readable text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConditionError(EngineError):
    """A condition is invalid or cannot be evaluated.

    ``position`` is the 1-based character position in the condition text, when known.
    """

    def __init__(self, detail: str, *, position: int | None = None) -> None:
        self.detail = detail
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"Invalid condition: {detail}{where}")


class TriggerError(EngineError):
    """A trigger script is invalid or failed while running.

    ``line`` and ``column`` are 1-based, when known.
    """

    def __init__(self, detail: str, *, line: int | None = None, column: int | None = None) -> None:
        self.detail = detail
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"Trigger error: {detail}{where}")


class RoutingError(EngineError):
    """The case cannot be routed as asked (no route holds, bad selection, bad state…)."""


class DelegationClosed(RoutingError):
    """The delegation to route is closed or does not exist."""

    def __init__(self, del_index: int) -> None:
        self.del_index = del_index
        super().__init__("This case delegation is already closed or does not exist")


class AssignmentError(EngineError):
    """No user can be assigned to a task under its assignment rule."""
