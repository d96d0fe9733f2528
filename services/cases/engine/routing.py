"""The routing state of one case (delegations, threads, pending joins) and routing.

As in ProcessMaker, each task a case reaches is a *delegation* with a global
``del_index`` (1, 2, …) running on a *thread*. A parallel split leaves its
thread open but idle and starts one child thread per branch; a join continues
on that parent thread. Pure and immutable: ``route`` returns a new state, and
states round-trip through plain JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

from services.cases.definitions.model import END, ProcessDefinition, Routes, RouteType, Task

from .conditions import evaluate_condition
from .errors import ConditionError, DelegationClosed, RoutingError

OPEN, CLOSED = "OPEN", "CLOSED"
ROUTED = "ROUTED"  # closed_by: its user routed it
DISCARDED = "DISCARDED"  # a DISCRIMINATOR join went on without its branch
CANCELLED = "CANCELLED"  # the case was cancelled


class _Json:
    """to_dict/from_dict for the state records, checked against their annotations."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        if not isinstance(data, Mapping):
            raise RoutingError(f"invalid routing state: a {cls.__name__.lower()} is not an object")
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = data.get(f.name, None if f.default is MISSING else f.default)
            values[f.name] = _checked(cls.__name__, f.name, str(f.type), value)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Delegation(_Json):
    index: int  # del_index, global per case, from 1
    task: str
    thread: int
    previous: int | None  # del_index this one was routed from (del_previous)
    status: str = OPEN
    closed_by: str | None = None  # ROUTED, DISCARDED or CANCELLED once CLOSED


@dataclass(frozen=True, slots=True)
class Thread(_Json):
    index: int  # the case thread index, from 1
    parent: int | None  # the thread that split into this one
    split: int | None  # del_index of the split that created it; siblings share it
    delegation: int | None  # its latest delegation
    status: str = OPEN


@dataclass(frozen=True, slots=True)
class PendingJoin(_Json):
    """Sibling threads of one split that reached a SEC-JOIN task and wait for the rest."""

    task: str
    split: int
    parent: int  # the thread the join task will continue on
    arrived: tuple[int, ...]  # thread indexes
    previous: int  # del_index of the latest arrival


@dataclass(frozen=True, slots=True)
class RoutingState:
    delegations: tuple[Delegation, ...]  # by index
    threads: tuple[Thread, ...]  # by index
    joins: tuple[PendingJoin, ...] = ()

    def delegation(self, index: int) -> Delegation | None:
        return next((d for d in self.delegations if d.index == index), None)

    def thread(self, index: int) -> Thread | None:
        return next((t for t in self.threads if t.index == index), None)

    def to_dict(self) -> dict[str, Any]:
        parts = ("delegations", "threads", "joins")
        return {part: [record.to_dict() for record in getattr(self, part)] for part in parts}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingState:
        if not isinstance(data, Mapping):
            raise RoutingError("invalid routing state: not an object")
        parts: dict[str, Any] = {}
        for key, kind in (("delegations", Delegation), ("threads", Thread), ("joins", PendingJoin)):
            items = data.get(key, [])
            if not isinstance(items, list):
                raise RoutingError(f"invalid routing state: '{key}' must be a list")
            parts[key] = tuple(kind.from_dict(item) for item in items)
        return cls(**parts)


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    state: RoutingState
    closed: tuple[int, ...]  # del_indexes closed: the routed one, and any discarded
    created: tuple[Delegation, ...]  # new delegations, in del_index order
    closed_threads: tuple[int, ...]
    opened_threads: tuple[int, ...]
    completed: bool  # no open thread left: the case is complete


def start(definition: ProcessDefinition, start_task: str | None = None) -> RoutingState:
    """A new case's state: delegation 1 at the start task, on thread 1."""
    if start_task is None:
        if len(definition.start_tasks) != 1:
            choices = ", ".join(definition.start_tasks)
            raise RoutingError(f"the process has several start tasks; name one of: {choices}")
        start_task = definition.start_tasks[0]
    elif start_task not in definition.start_tasks:
        raise RoutingError(f"'{start_task}' is not a start task of this process")
    return RoutingState((Delegation(1, start_task, 1, None),), (Thread(1, None, None, 1),))


def open_delegations(state: RoutingState) -> tuple[Delegation, ...]:
    return tuple(d for d in state.delegations if d.status == OPEN)


def cancel(state: RoutingState) -> RouteOutcome:
    """Close every open delegation and thread (the case is cancelled)."""
    router = _Router(None, state)
    router.joins.clear()
    for delegation in open_delegations(state):
        router.close_delegation(delegation.index, CANCELLED)
    for thread in (t for t in state.threads if t.status == OPEN):
        router.close_thread(thread.index)
    return router.outcome()


def route(
    definition: ProcessDefinition,
    state: RoutingState,
    del_index: int,
    variables: Mapping[str, Any],
    *,
    selection: Sequence[str] = (),
) -> RouteOutcome:
    """Route from the open delegation ``del_index`` along its task's routes."""
    router = _Router(definition, state)
    delegation = router.delegations.get(del_index)
    if delegation is None or delegation.status != OPEN:
        raise DelegationClosed(del_index)
    try:
        task = definition.task(delegation.task)
    except KeyError:
        raise RoutingError(f"task '{delegation.task}' is not in this process version") from None
    thread = router.threads.get(delegation.thread)
    if thread is None or thread.status != OPEN:
        raise RoutingError(f"invalid routing state: thread {delegation.thread} is not open")
    router.close_delegation(del_index, ROUTED)
    routes = task.routes
    if routes is None:
        router.close_thread(thread.index)
    elif routes.type == RouteType.PARALLEL:
        router.split(thread, delegation, [t.task for t in routes.to])
    elif routes.type == RouteType.PARALLEL_BY_EVALUATION:
        router.split(thread, delegation, _holding(task, routes, variables))
    elif routes.type in (RouteType.SEC_JOIN, RouteType.DISCRIMINATOR):
        target = routes.to[0].task  # a join has one target
        if target == END or thread.split is None or thread.parent is None:
            router.continue_to(thread, target, del_index)  # no split to join
        elif routes.type == RouteType.SEC_JOIN:
            router.join(thread, delegation, target)
        else:
            router.discriminate(thread, delegation, target)
    else:
        target = _single_target(task, routes, variables, selection)
        router.continue_to(thread, target, delegation.index)
    router.settle()
    return router.outcome()


def _holds(task: Task, target: Any, variables: Mapping[str, Any]) -> bool:
    try:
        return evaluate_condition(target.condition, variables)
    except ConditionError as error:
        raise RoutingError(f"route from '{task.uid}' to '{target.task}': {error}") from None


def _single_target(
    task: Task, routes: Routes, variables: Mapping[str, Any], selection: Sequence[str]
) -> str:
    if routes.type == RouteType.EVALUATE:
        for target in routes.to:
            if _holds(task, target, variables):
                return target.task
        raise RoutingError(f"no route condition holds for task '{task.uid}'")
    if routes.type != RouteType.SELECT:
        return routes.to[0].task  # SEQUENTIAL: a single target
    choices = _holding(task, routes, variables)  # SELECT offers the targets that hold
    chosen = [selection] if isinstance(selection, str) else list(selection)
    if len(chosen) != 1 or chosen[0] not in choices:
        wrong = f"'{chosen[0]}' is not offered; " if len(chosen) == 1 else ""
        listed = ", ".join(choices)
        raise RoutingError(f"{wrong}choose exactly one next task of '{task.uid}' among: {listed}")
    return chosen[0]


def _holding(task: Task, routes: Routes, variables: Mapping[str, Any]) -> list[str]:
    targets = [t.task for t in routes.to if _holds(task, t, variables)]
    if not targets:
        raise RoutingError(f"no route condition holds for task '{task.uid}'")
    return targets


class _Router:
    """Mutable working copy of a state while one routing step runs."""

    def __init__(self, definition: ProcessDefinition | None, state: RoutingState) -> None:
        self.delegations = {d.index: d for d in state.delegations}
        self.threads = {t.index: t for t in state.threads}
        self.joins = list(state.joins)
        # What this step did, for the outcome: del_indexes and thread indexes.
        self.closed, self.created, self.closed_threads, self.opened_threads = [], [], [], []
        tasks = definition.tasks if definition else ()
        self.successors = {t.uid: [r.task for r in t.routes.to] if t.routes else [] for t in tasks}

    def new_delegation(self, task: str, thread: int, previous: int) -> None:
        index = max(self.delegations, default=0) + 1
        self.delegations[index] = Delegation(index, task, thread, previous)
        self.threads[thread] = replace(self.threads[thread], delegation=index)
        self.created.append(index)

    def close_delegation(self, index: int, why: str) -> None:
        self.delegations[index] = replace(self.delegations[index], status=CLOSED, closed_by=why)
        self.closed.append(index)

    def new_thread(self, parent: int, split: int) -> int:
        index = max(self.threads, default=0) + 1
        self.threads[index] = Thread(index, parent, split, None)
        self.opened_threads.append(index)
        return index

    def close_thread(self, index: int) -> None:
        self.threads[index] = replace(self.threads[index], status=CLOSED)
        self.closed_threads.append(index)

    def continue_to(self, thread: Thread, target: str, previous: int) -> None:
        if target == END:
            self.close_thread(thread.index)
        else:
            self.new_delegation(target, thread.index, previous)

    def split(self, thread: Thread, delegation: Delegation, targets: list[str]) -> None:
        # The splitting thread stays open and waits; END branches need no thread.
        for target in targets:
            if target != END:
                child = self.new_thread(thread.index, delegation.index)
                self.new_delegation(target, child, delegation.index)

    def join(self, thread: Thread, delegation: Delegation, target: str) -> None:
        self.close_thread(thread.index)
        for i, pending in enumerate(self.joins):
            if pending.split == thread.split and pending.task == target:
                arrived = (*pending.arrived, thread.index)
                self.joins[i] = replace(pending, arrived=arrived, previous=delegation.index)
                return
        arrival = (thread.index,)
        self.joins.append(
            PendingJoin(target, thread.split, thread.parent, arrival, delegation.index)
        )

    def discriminate(self, thread: Thread, delegation: Delegation, target: str) -> None:
        self.close_thread(thread.index)
        for sibling in list(self.threads.values()):
            if sibling.split == thread.split and sibling.index != thread.index:
                self._discard(sibling.index)
        self.joins = [j for j in self.joins if j.split != thread.split]
        self._resume(thread.parent, thread.split, target, delegation.index)

    def _discard(self, root: int) -> None:
        """Close a thread and everything under it (a DISCRIMINATOR went on without it)."""
        subtree = self._subtree(root)
        for index in subtree:
            current = self._open_delegation(index)
            if current is not None:
                self.close_delegation(current.index, DISCARDED)
            if self.threads[index].status == OPEN:
                self.close_thread(index)
        self.joins = [j for j in self.joins if j.parent not in subtree]

    def _resume(self, parent: int, split: int, task: str, previous: int) -> None:
        """Continue on the parent thread; if it already went on, on a new child thread."""
        thread = self.threads[parent]
        if thread.status == OPEN and self._open_delegation(parent) is None:
            self.new_delegation(task, parent, previous)
        else:
            self.new_delegation(task, self.new_thread(parent, split), previous)

    # Settling: fire joins whose siblings are done, close idle threads with no branches.
    def settle(self) -> None:
        progress = True
        while progress:
            progress = False
            for pending in list(self.joins):
                if self._join_ready(pending):
                    self.joins.remove(pending)
                    self._resume(pending.parent, pending.split, pending.task, pending.previous)
                    progress = True
            for thread in list(self.threads.values()):
                idle = thread.status == OPEN and self._open_delegation(thread.index) is None
                if idle and self._finished(thread):
                    self.close_thread(thread.index)
                    progress = True

    def _finished(self, thread: Thread) -> bool:
        """A waiting thread is done when no branch under it is open and no join will resume it."""
        if any(t.parent == thread.index and t.status == OPEN for t in self.threads.values()):
            return False
        return not any(j.parent == thread.index for j in self.joins)

    def _open_delegation(self, thread: int) -> Delegation | None:
        current = self.delegations.get(self.threads[thread].delegation or 0)
        return current if current is not None and current.status == OPEN else None

    def _join_ready(self, pending: PendingJoin) -> bool:
        """Ready when no sibling that has not arrived could still reach the join task:
        no open delegation and no pending (nested) join under it leads there."""
        for thread in self.threads.values():
            if thread.split != pending.split or thread.index in pending.arrived:
                continue
            subtree = self._subtree(thread.index)
            tasks = [d.task for d in map(self._open_delegation, subtree) if d is not None]
            tasks += [j.task for j in self.joins if j.parent in subtree]
            if any(t == pending.task or self._reaches(t, pending.task) for t in tasks):
                return False
        return True

    def _subtree(self, root: int) -> set[int]:
        found, frontier = {root}, [root]
        while frontier:
            parent = frontier.pop()
            children = [t.index for t in self.threads.values() if t.parent == parent]
            frontier.extend(c for c in children if c not in found)
            found.update(children)
        return found

    def _reaches(self, source: str, target: str) -> bool:
        seen: set[str] = set()
        frontier = list(self.successors.get(source, ()))
        while frontier:
            uid = frontier.pop()
            if uid == target:
                return True
            if uid not in seen:
                seen.add(uid)
                frontier.extend(self.successors.get(uid, ()))
        return False

    def outcome(self) -> RouteOutcome:
        state = RoutingState(
            tuple(self.delegations[i] for i in sorted(self.delegations)),
            tuple(self.threads[i] for i in sorted(self.threads)),
            tuple(self.joins),
        )
        return RouteOutcome(
            state=state,
            closed=tuple(self.closed),
            created=tuple(self.delegations[i] for i in self.created),
            closed_threads=tuple(self.closed_threads),
            opened_threads=tuple(self.opened_threads),
            completed=all(t.status == CLOSED for t in state.threads),
        )


# JSON checks for from_dict.
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked(record: str, name: str, annotation: str, value: Any) -> Any:
    if name == "status":
        ok = value in (OPEN, CLOSED)
    elif annotation.startswith("tuple"):
        ok = isinstance(value, list) and all(map(_is_int, value))
        value = tuple(value) if ok else value
    else:
        ok = (value is None and "None" in annotation) or (
            _is_int(value) if annotation.startswith("int") else isinstance(value, str)
        )
    if not ok:
        raise RoutingError(f"invalid routing state: bad '{name}' in a {record.lower()}")
    return value
