"""Small builders for process definitions in engine tests."""

from __future__ import annotations

from typing import Any

from services.cases.definitions.model import ProcessDefinition
from services.cases.engine.routing import RoutingState, open_delegations, route


def task(uid: str, route: str | None = None, *targets: str | tuple[str, str], **extra: Any) -> dict:
    """A task dict; targets are task uids or (uid, condition) pairs."""
    data: dict[str, Any] = {"uid": uid, "title": f"Task {uid}", **extra}
    if route is not None:
        data["routes"] = {
            "type": route,
            "to": [
                {"task": t} if isinstance(t, str) else {"task": t[0], "condition": t[1]}
                for t in targets
            ],
        }
    return data


def process(*tasks: dict, start: tuple[str, ...] = ("A",)) -> ProcessDefinition:
    return ProcessDefinition.model_validate(
        {"uid": "p1", "title": "Process", "start_tasks": list(start), "tasks": list(tasks)}
    )


def open_tasks(state: RoutingState) -> dict[int, str]:
    """The open delegations of a routing state, as {del_index: task uid}."""
    return {d.index: d.task for d in open_delegations(state)}


def run(definition, state, *indexes, variables=None, **kwargs):
    """Route the given delegations in order; return the last outcome."""
    outcome = None
    for index in indexes:
        outcome = route(definition, state, index, variables or {}, **kwargs)
        state = outcome.state
    return outcome
