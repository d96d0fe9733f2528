import json

import pytest

from services.cases.engine.errors import DelegationClosed, RoutingError
from services.cases.engine.routing import (
    CANCELLED,
    CLOSED,
    DISCARDED,
    OPEN,
    RoutingState,
    cancel,
    open_delegations,
    route,
    start,
)

from .helpers import open_tasks, process, run, task

# --- PARALLEL and SEC-JOIN ---------------------------------------------------------


def diamond(split="PARALLEL", *targets):
    return process(
        task("A", split, *(targets or ("B", "C"))),
        task("B", "SEC-JOIN", "D"),
        task("C", "SEC-JOIN", "D"),
        task("D", "SEQUENTIAL", "END"),
    )


def test_parallel_split_creates_one_child_thread_per_branch():
    outcome = route(diamond(), start(diamond()), 1, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in outcome.created] == [
        (2, "B", 2, 1),
        (3, "C", 3, 1),
    ]
    assert outcome.opened_threads == (2, 3)
    threads = {t.index: t for t in outcome.state.threads}
    assert threads[1].status == OPEN  # the parent waits for its branches
    assert (threads[2].parent, threads[2].split) == (1, 1)
    assert (threads[3].parent, threads[3].split) == (1, 1)


@pytest.mark.parametrize("order", [(2, 3), (3, 2)])
def test_join_waits_for_every_branch_then_fires_on_the_parent_thread(order):
    state = route(diamond(), start(diamond()), 1, {}).state
    first = route(diamond(), state, order[0], {})
    assert first.created == ()
    assert first.closed_threads == (order[0],)
    assert not first.completed
    assert open_tasks(first.state) == {order[1]: "B" if order[1] == 2 else "C"}
    second = route(diamond(), first.state, order[1], {})
    assert [(d.index, d.task, d.thread, d.previous) for d in second.created] == [
        (4, "D", 1, order[1])
    ]
    assert second.state.joins == ()
    last = route(diamond(), second.state, 4, {})
    assert last.completed
    assert all(t.status == CLOSED for t in last.state.threads)


def test_parallel_by_evaluation_runs_the_branches_that_hold():
    definition = diamond("PARALLEL-BY-EVALUATION", ("B", "@@b == 'y'"), ("C", "@@c == 'y'"))
    both = route(definition, start(definition), 1, {"b": "y", "c": "y"})
    assert [d.task for d in both.created] == ["B", "C"]
    one = route(definition, start(definition), 1, {"c": "y"})
    assert [(d.index, d.task, d.thread) for d in one.created] == [(2, "C", 2)]
    joined = route(definition, one.state, 2, {})
    assert [(d.task, d.thread) for d in joined.created] == [("D", 1)]  # no one else to wait for
    with pytest.raises(RoutingError, match="no route condition holds"):
        route(definition, start(definition), 1, {})


def test_join_waits_for_a_branch_that_can_still_arrive_then_fires_when_it_ends():
    definition = process(
        task("A", "PARALLEL", "B", "C"),
        task("B", "SEC-JOIN", "D"),
        task("C", "EVALUATE", ("C2", "@@more == 'yes'"), ("END", "")),
        task("C2", "SEC-JOIN", "D"),
        task("D"),
    )
    state = run(definition, start(definition), 1, 2).state
    assert open_tasks(state) == {3: "C"}  # B waits at the join: C may still get there
    ended = route(definition, state, 3, {"more": "no"})
    assert [(d.task, d.thread, d.previous) for d in ended.created] == [("D", 1, 2)]
    via = run(definition, state, 3, 4, variables={"more": "yes"})
    assert [(d.index, d.task, d.thread) for d in via.created] == [(5, "D", 1)]


def test_branches_that_all_end_complete_the_case():
    definition = process(task("A", "PARALLEL", "B", "C"), task("B"), task("C"))
    outcome = run(definition, start(definition), 1, 2)
    assert not outcome.completed
    outcome = route(definition, outcome.state, 3, {})
    assert outcome.completed
    assert set(outcome.closed_threads) == {3, 1}


def test_a_parallel_branch_to_end_makes_no_thread():
    definition = process(task("A", "PARALLEL", "B", "END"), task("B", "SEC-JOIN", "C"), task("C"))
    split = route(definition, start(definition), 1, {})
    assert [(d.task, d.thread) for d in split.created] == [("B", 2)]
    joined = route(definition, split.state, 2, {})
    assert [(d.task, d.thread) for d in joined.created] == [("C", 1)]


def test_a_split_whose_every_branch_is_end_completes():
    definition = process(task("A", "PARALLEL", "END", "END"))
    assert route(definition, start(definition), 1, {}).completed


def test_a_join_reached_without_a_split_just_continues():
    definition = process(task("A", "SEC-JOIN", "B"), task("B", "DISCRIMINATOR", "C"), task("C"))
    outcome = run(definition, start(definition), 1, 2)
    assert [(d.index, d.task, d.thread) for d in outcome.created] == [(3, "C", 1)]


def nested():
    # A splits into B and C; B splits again into B1 and B2, joined at BJ; BJ and C join at D.
    return process(
        task("A", "PARALLEL", "B", "C"),
        task("B", "PARALLEL", "B1", "B2"),
        task("B1", "SEC-JOIN", "BJ"),
        task("B2", "SEC-JOIN", "BJ"),
        task("BJ", "SEC-JOIN", "D"),
        task("C", "SEC-JOIN", "D"),
        task("D", "SEQUENTIAL", "END"),
    )


def test_nested_parallel_splits_and_joins():
    definition = nested()
    state = run(definition, start(definition), 1, 2).state
    assert open_tasks(state) == {3: "C", 4: "B1", 5: "B2"}
    threads = {t.index: t for t in state.threads}
    assert (threads[4].parent, threads[4].split) == (2, 2)
    assert (threads[5].parent, threads[5].split) == (2, 2)

    c_arrives = route(definition, state, 3, {})  # C waits: the B branch is still running
    assert c_arrives.created == () and not c_arrives.completed
    b1_arrives = route(definition, c_arrives.state, 4, {})
    assert b1_arrives.created == ()
    inner = route(definition, b1_arrives.state, 5, {})  # the inner join fires on thread 2 only
    assert [(d.index, d.task, d.thread, d.previous) for d in inner.created] == [(6, "BJ", 2, 5)]
    outer = route(definition, inner.state, 6, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in outer.created] == [(7, "D", 1, 6)]
    assert route(definition, outer.state, 7, {}).completed


def test_nested_parallel_with_the_outer_branch_arriving_last():
    definition = nested()
    state = run(definition, start(definition), 1, 2, 4, 5).state
    assert open_tasks(state) == {3: "C", 6: "BJ"}
    waiting = route(definition, state, 6, {})
    assert waiting.created == ()
    fired = route(definition, waiting.state, 3, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in fired.created] == [(7, "D", 1, 3)]


def test_two_joins_from_one_split_do_not_overwrite_the_parent_thread():
    # Unusual model: the branches of one split end at different join tasks.
    definition = process(
        task("A", "PARALLEL", "B", "C"),
        task("B", "SEC-JOIN", "J1"),
        task("C", "SEC-JOIN", "J2"),
        task("J1"),
        task("J2"),
    )
    first = run(definition, start(definition), 1, 2)
    assert [(d.task, d.thread) for d in first.created] == [("J1", 1)]
    second = route(definition, first.state, 3, {})
    assert [(d.task, d.thread) for d in second.created] == [("J2", 4)]
    assert open_tasks(second.state) == {4: "J1", 5: "J2"}
    done = run(definition, second.state, 4, 5)
    assert done.completed


# --- DISCRIMINATOR ------------------------------------------------------------------


def racing():
    return process(
        task("A", "PARALLEL", "B", "C", "E"),
        task("B", "DISCRIMINATOR", "D"),
        task("C", "DISCRIMINATOR", "D"),
        task("E", "PARALLEL", "E1", "E2"),
        task("E1", "SEC-JOIN", "EJ"),
        task("E2", "SEC-JOIN", "EJ"),
        task("EJ", "DISCRIMINATOR", "D"),
        task("D", "SEQUENTIAL", "END"),
    )


def test_discriminator_goes_on_with_the_first_branch_and_closes_the_others():
    definition = racing()
    state = run(definition, start(definition), 1, 4, 5).state  # E split; E1 waits at EJ
    assert open_tasks(state) == {2: "B", 3: "C", 6: "E2"}
    assert len(state.joins) == 1
    outcome = route(definition, state, 3, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in outcome.created] == [(7, "D", 1, 3)]
    assert set(outcome.closed) == {3, 2, 6}
    assert open_tasks(outcome.state) == {7: "D"}
    assert outcome.state.joins == ()  # E1's pending join went with its branch
    assert {t.index for t in outcome.state.threads if t.status == OPEN} == {1}
    assert outcome.state.delegation(2).closed_by == DISCARDED
    assert outcome.state.delegation(6).closed_by == DISCARDED
    with pytest.raises(DelegationClosed):
        route(definition, outcome.state, 2, {})
    assert route(definition, outcome.state, 7, {}).completed


# --- state as JSON, cancel ----------------------------------------------------------


def test_state_round_trips_through_json():
    definition = nested()
    state = run(definition, start(definition), 1, 2, 4).state
    assert state.joins
    data = json.loads(json.dumps(state.to_dict()))
    assert RoutingState.from_dict(data) == state
    continued = route(definition, RoutingState.from_dict(data), 5, {})
    assert [d.task for d in continued.created] == ["BJ"]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"delegations": "x"},
        {"delegations": [{"index": "1", "task": "A", "thread": 1, "previous": None}]},
        {"delegations": [{"index": 1, "task": "A", "thread": True, "previous": None}]},
        {"threads": [{"index": 1, "parent": None, "split": None, "delegation": 1, "status": "X"}]},
        {"joins": [{"task": "D", "split": 1, "parent": 1, "arrived": "2", "previous": 2}]},
        {"joins": [{"task": "D", "split": 1, "parent": 1, "arrived": [2]}]},
        {"threads": [7]},
    ],
)
def test_invalid_state_is_rejected(data):
    with pytest.raises(RoutingError, match="invalid routing state"):
        RoutingState.from_dict(data)


def test_cancel_closes_everything():
    definition = nested()
    state = run(definition, start(definition), 1, 2, 4).state
    outcome = cancel(state)
    assert set(outcome.closed) == {3, 5}
    assert open_delegations(outcome.state) == ()
    assert all(t.status == CLOSED for t in outcome.state.threads)
    assert outcome.state.joins == ()
    assert outcome.state.delegation(3).closed_by == CANCELLED
    with pytest.raises(DelegationClosed):
        route(definition, outcome.state, 3, {})


def test_discriminator_won_by_a_nested_branch():
    definition = racing()
    state = run(definition, start(definition), 1, 4, 5, 6).state
    assert open_tasks(state) == {2: "B", 3: "C", 7: "EJ"}
    outcome = route(definition, state, 7, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in outcome.created] == [(8, "D", 1, 7)]
    assert set(outcome.closed) == {7, 2, 3}
    assert open_tasks(outcome.state) == {8: "D"}
