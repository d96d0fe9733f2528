import pytest

from services.cases.engine.errors import DelegationClosed, EngineError, RoutingError
from services.cases.engine.routing import (
    CLOSED,
    OPEN,
    ROUTED,
    Delegation,
    open_delegations,
    route,
    start,
)

from .helpers import process, task

# --- start ---------------------------------------------------------------------


def test_start_creates_delegation_one_on_thread_one():
    state = start(process(task("A")))
    assert state.delegations == (Delegation(1, "A", 1, None),)
    (thread,) = state.threads
    assert (thread.index, thread.parent, thread.status, thread.delegation) == (1, None, OPEN, 1)


def test_start_with_several_start_tasks_needs_a_name():
    definition = process(task("A"), task("B"), start=("A", "B"))
    with pytest.raises(RoutingError, match="several start tasks"):
        start(definition)
    assert start(definition, "B").delegations[0].task == "B"
    with pytest.raises(RoutingError, match="not a start task"):
        start(definition, "C")
    with pytest.raises(RoutingError, match="not a start task"):
        start(process(task("A"), task("B")), "B")


# --- sequential, END -----------------------------------------------------------


def test_sequential_to_end_completes():
    definition = process(task("A", "SEQUENTIAL", "B"), task("B", "SEQUENTIAL", "END"))
    first = route(definition, start(definition), 1, {})
    assert [(d.index, d.task, d.thread, d.previous) for d in first.created] == [(2, "B", 1, 1)]
    assert first.closed == (1,)
    assert not first.completed
    assert first.state.delegation(1).status == CLOSED
    assert first.state.delegation(1).closed_by == ROUTED
    last = route(definition, first.state, 2, {})
    assert last.created == ()
    assert last.closed_threads == (1,)
    assert last.completed
    assert open_delegations(last.state) == ()


def test_sequential_takes_the_first_target_and_ignores_conditions():
    definition = process(task("A", "SEQUENTIAL", ("B", "1 == 2"), "C"), task("B"), task("C"))
    assert route(definition, start(definition), 1, {}).created[0].task == "B"


def test_a_task_without_routes_ends_its_thread():
    definition = process(task("A"))
    outcome = route(definition, start(definition), 1, {})
    assert outcome.completed and outcome.closed_threads == (1,)


def test_delegation_indexes_count_every_routing_including_loops():
    definition = process(
        task("A", "SEQUENTIAL", "B"),
        task("B", "EVALUATE", ("A", "@@again == 'yes'"), ("END", "")),
    )
    state = start(definition)
    state = route(definition, state, 1, {}).state
    state = route(definition, state, 2, {"again": "yes"}).state
    state = route(definition, state, 3, {}).state
    assert [(d.index, d.task, d.previous) for d in state.delegations] == [
        (1, "A", None),
        (2, "B", 1),
        (3, "A", 2),
        (4, "B", 3),
    ]
    assert route(definition, state, 4, {"again": "no"}).completed


# --- closed or unknown delegations ------------------------------------------------


def test_routing_a_closed_or_unknown_delegation():
    definition = process(task("A", "SEQUENTIAL", "B"), task("B"))
    state = route(definition, start(definition), 1, {}).state
    for index in (1, 99, 0, -1):
        with pytest.raises(DelegationClosed) as caught:
            route(definition, state, index, {})
        assert str(caught.value) == "This case delegation is already closed or does not exist"
        assert caught.value.del_index == index
        assert isinstance(caught.value, RoutingError)


def test_route_never_changes_the_given_state():
    definition = process(task("A", "PARALLEL", "B", "C"), task("B"), task("C"))
    state = start(definition)
    before = state.to_dict()
    route(definition, state, 1, {})
    assert state.to_dict() == before


# --- SELECT ----------------------------------------------------------------------


def selecting():
    return process(task("A", "SELECT", "B", "C", "END"), task("B"), task("C"))


def test_select_routes_to_the_chosen_task():
    outcome = route(selecting(), start(selecting()), 1, {}, selection=["C"])
    assert [d.task for d in outcome.created] == ["C"]
    assert route(selecting(), start(selecting()), 1, {}, selection="B").created[0].task == "B"
    assert route(selecting(), start(selecting()), 1, {}, selection=("END",)).completed


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ((), "choose exactly one"),
        (("B", "C"), "choose exactly one"),
        (("Z",), "'Z' is not offered"),
    ],
)
def test_select_errors(selection, message):
    with pytest.raises(RoutingError, match=message) as caught:
        route(selecting(), start(selecting()), 1, {}, selection=selection)
    assert "B, C, END" in str(caught.value)


# --- EVALUATE ----------------------------------------------------------------------


def evaluating():
    return process(
        task(
            "A",
            "EVALUATE",
            ("B", "@#amount > 1000"),
            ("C", "@#amount > 100"),
            ("END", "@@skip == 'yes'"),
        ),
        task("B"),
        task("C"),
    )


@pytest.mark.parametrize(
    ("variables", "target"),
    [({"amount": "5000"}, "B"), ({"amount": "500"}, "C"), ({"amount": "5000", "skip": "yes"}, "B")],
)
def test_evaluate_takes_the_first_route_that_holds(variables, target):
    outcome = route(evaluating(), start(evaluating()), 1, variables)
    assert [d.task for d in outcome.created] == [target]


def test_evaluate_to_end():
    assert route(evaluating(), start(evaluating()), 1, {"skip": "yes"}).completed


def test_evaluate_with_no_route_holding():
    with pytest.raises(RoutingError, match="no route condition holds"):
        route(evaluating(), start(evaluating()), 1, {"amount": "5"})


def test_an_empty_condition_always_holds():
    definition = process(task("A", "EVALUATE", ("B", "false"), ("C", "")), task("B"), task("C"))
    assert route(definition, start(definition), 1, {}).created[0].task == "C"


def test_an_invalid_condition_names_the_route():
    definition = process(task("A", "EVALUATE", ("B", "@@a ==")), task("B"))
    with pytest.raises(RoutingError, match=r"route from 'A' to 'B'.*ends too early") as caught:
        route(definition, start(definition), 1, {})
    assert isinstance(caught.value, EngineError)


def test_a_task_missing_from_the_definition():
    old = process(task("A", "SEQUENTIAL", "B"), task("B"))
    state = route(old, start(old), 1, {}).state
    with pytest.raises(RoutingError, match="'B' is not in this process"):
        route(process(task("A")), state, 2, {})


def test_select_offers_only_the_targets_whose_condition_holds():
    definition = process(
        task("A", "SELECT", ("B", "@#amount > 100"), ("C", ""), ("E", "@@vip == 'yes'")),
        task("B"),
        task("C"),
        task("E"),
    )
    state = start(definition)
    assert route(definition, state, 1, {"amount": "500"}, selection=["B"]).created[0].task == "B"
    with pytest.raises(RoutingError, match=r"'B' is not offered.*among: C$"):
        route(definition, state, 1, {"amount": "5"}, selection=["B"])
    only_conditional = process(task("A", "SELECT", ("B", "false")), task("B"))
    with pytest.raises(RoutingError, match="no route condition holds"):
        route(only_conditional, start(only_conditional), 1, {}, selection=["B"])
