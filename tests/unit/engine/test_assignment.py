import pytest

from services.cases.definitions.model import Task
from services.cases.engine.assignment import AssignmentResult, assign
from services.cases.engine.errors import AssignmentError, EngineError

USERS = {"ann", "bob", "cid", "dee"}


def make_task(rule: str, variable: str | None = None) -> Task:
    assignment = {"rule": rule} | ({"variable": variable} if variable else {})
    return Task.model_validate({"uid": "T1", "title": "Review", "assignment": assignment})


def call(task: Task, **overrides) -> AssignmentResult:
    arguments = {
        "pool": ("cid", "ann", "bob"),
        "variables": {},
        "previous_user": None,
        "managers": {},
        "balanced_cursor": None,
        "chosen_user": None,
        "valid_users": USERS,
    } | overrides
    return assign(task, **arguments)


def test_balanced_cycles_over_the_sorted_pool():
    task = make_task("BALANCED")
    cursor, users = None, []
    for _ in range(7):
        result = call(task, balanced_cursor=cursor)
        users.append(result.user)
        cursor = result.next_balanced_cursor
        assert result.pool == ("ann", "bob", "cid")
        assert not result.self_service
    assert users == ["ann", "bob", "cid", "ann", "bob", "cid", "ann"]


def test_balanced_survives_a_smaller_pool_and_duplicates():
    task = make_task("BALANCED")
    assert call(task, pool=["bob", "ann", "bob"], balanced_cursor=5).user == "bob"
    assert call(task, pool=["ann"], balanced_cursor=3).next_balanced_cursor == 0


@pytest.mark.parametrize("rule", ["BALANCED", "MANUAL", "SELF_SERVICE"])
def test_an_empty_pool_is_an_error(rule):
    with pytest.raises(AssignmentError, match="no users to assign") as caught:
        call(make_task(rule), pool=(), chosen_user="ann")
    assert isinstance(caught.value, EngineError)


def test_manual_takes_the_chosen_pool_member():
    result = call(make_task("MANUAL"), chosen_user="bob")
    assert result == AssignmentResult("bob", ("ann", "bob", "cid"), None, self_service=False)
    with pytest.raises(AssignmentError, match="'dee' is not in the assignment pool"):
        call(make_task("MANUAL"), chosen_user="dee")
    with pytest.raises(AssignmentError, match="choose the next user"):
        call(make_task("MANUAL"))


@pytest.mark.parametrize("variable", ["@@approver", "@#approver", "@=approver", "@approver"])
def test_evaluate_takes_the_user_in_the_variable(variable):
    result = call(make_task("EVALUATE", variable), variables={"approver": "dee"})
    assert (result.user, result.pool, result.self_service) == ("dee", ("dee",), False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "holds no user"),
        ("", "holds no user"),
        (["ann"], "holds no user"),
        ("zed", "'zed', which is not a user"),
    ],
)
def test_evaluate_errors(value, message):
    variables = {} if value is None else {"approver": value}
    with pytest.raises(AssignmentError, match=message):
        call(make_task("EVALUATE", "@@approver"), variables=variables)


def test_report_to_takes_the_previous_users_manager():
    managers = {"ann": "dee", "bob": None}
    result = call(make_task("REPORT_TO"), previous_user="ann", managers=managers)
    assert (result.user, result.pool) == ("dee", ("dee",))
    with pytest.raises(AssignmentError, match="manager of user 'bob': none set"):
        call(make_task("REPORT_TO"), previous_user="bob", managers=managers)
    with pytest.raises(AssignmentError, match="manager of the previous task"):
        call(make_task("REPORT_TO"), managers=managers)


def test_self_service_leaves_it_to_the_pool():
    result = call(make_task("SELF_SERVICE"))
    assert result == AssignmentResult(None, ("ann", "bob", "cid"), None, self_service=True)


@pytest.mark.parametrize(
    ("value", "pool"),
    [
        ("bob", ("bob",)),
        ("dee, ann ,", ("ann", "dee")),
        (["cid", "ann", "cid"], ("ann", "cid")),
        (["ann", "gone"], ("ann",)),
    ],
)
def test_self_service_evaluate_takes_the_pool_from_the_variable(value, pool):
    result = call(make_task("SELF_SERVICE_EVALUATE", "@@reviewers"), variables={"reviewers": value})
    assert result == AssignmentResult(None, pool, None, self_service=True)


@pytest.mark.parametrize("value", [None, "", " , ", [], ["gone"], 42, {"1": "ann"}])
def test_self_service_evaluate_with_no_valid_user(value):
    variables = {} if value is None else {"reviewers": value}
    with pytest.raises(AssignmentError, match="holds no valid user"):
        call(make_task("SELF_SERVICE_EVALUATE", "@@reviewers"), variables=variables)
