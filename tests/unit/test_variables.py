"""Case variables in ProcessMaker's format: every example of the seed's
"Case Variables" and "New Case: POST /cases" sections."""

from __future__ import annotations

import pytest

from casemesh.web.forms import parse_urlencoded
from services.cases.variables import (
    MAX_SIZE,
    MAX_VARIABLES,
    SYSTEM_VARIABLES,
    VariablesError,
    merge_variables,
    normalise_variables,
    number_text,
    system_variables,
    unwrap_variables,
)
from tests.unit.test_forms import SEED_NEW_CASE_QUERY, SEED_SET_VARIABLES_QUERY

# "New Case: POST /cases", POST Parameters: the variables example.
NEW_CASE_PARAMETER_EXAMPLE = [
    {
        "client": "Acme Inc.",
        "amount": 23456.99,
        "dateDue": "2015-12-31 23:59:59",
        "contractCheckbox": ["1"],
        "contactCheckgroup": ["fax", "email", "phone"],
    }
]

# "New Case: POST /cases", the JavaScript example's variables.
NEW_CASE_JS_VARIABLES = {
    "client": "Acme Inc.",
    "amount": 23456.99,
    "address": "245 Stars Av.\nHollywood CA 12345",
    "dateDue": "2015-12-31",
    "dateDue_label": "12/31/2015",
    "deliveryTime": "2015-11-25 17:55:38",
    "serviceType": "accounting",
    "serviceType_label": "Accounting Review",
    "hasContract": ["1"],
    "hasContract_label": "yes",
    "howContact": ["fax", "email", "telephone"],
    "howContact_label": '["Fax","Send Email","Telephone"]',
    "contactsGrid": {
        "1": {"fullName": "Jane Doe", "canCall": "1", "canCall_label": "Yes"},
        "2": {"fullName": "Bill Hill", "canCall": "0", "canCall_label": "No"},
        "3": {"fullName": "Sally Slim", "canCall": "1", "canCall_label": "Yes"},
    },
}
NEW_CASE_STORED = {**NEW_CASE_JS_VARIABLES, "amount": "23456.99"}

# "Set Variables: PUT /cases/{app_uid}/variable", the JavaScript example.
SET_VARIABLES_JS = {
    "clientName": "Kelly Cline",
    "quantity": 56789,
    "amount": 12249.99,
    "makeContact": ["1"],
    "howContact": ["email", "fax"],
    "howContact_label": '["E-mail", "Fax"]',
    "payNow": "0",
    "howPay": "credit_card",
    "howPay_label": "Credit Card",
    "serviceDue": "2015-12-31",
    "subcontractors": {
        "1": {"name": "Smith & Wright", "hasContract": "0"},
        "2": {"name": "A+ Lawn Services", "hasContract": "1"},
    },
}

# "Get Variables: GET /cases/{app_uid}/variables", the example answer.
GET_VARIABLES_EXAMPLE = {
    "SYS_LANG": "en",
    "SYS_SKIN": "neoclassic",
    "SYS_SYS": "workflow",
    "APPLICATION": "78484118955bbd5fc39e5c5072875367",
    "PROCESS": "189248173559579a84bf665046423742",
    "TASK": "37438452555b10cffda9428064171274",
    "INDEX": "2",
    "USER_LOGGED": "00000000000000000000000000000001",
    "USR_USERNAME": "admin",
    "PIN": "JQN",
    "contractor": "Reliant Parts",
    "contractor_label": "Reliant Parts",
    "sendContract": "1",
    "sendContract_label": "Yes",
    "contractReview": ["0"],
    "contractReview_label": "Rejected",
    "amount": "45323.50",
    "amount_label": "45323.50",
    "dueDate": "2016-03-19",
    "dueDate_label": "03/19/2016",
    "markToReview": ["contract", "credit", "comments"],
    "markToReview_label": '["Contract", "Credit History", "Past Comments"]',
    "reviewerList": {
        "1": {
            "name": "Betty Blue",
            "name_label": "Betty Blue",
            "approved": "1",
            "approved_label": "Yes",
        },
        "2": {
            "name": "Bill Houck",
            "name_label": "Bill Houck",
            "approved": "0",
            "approved_label": "No",
        },
        "3": {
            "name": "Mae Sander",
            "name_label": "Mae Sander",
            "approved": "1",
            "approved_label": "Yes",
        },
    },
}


def test_new_case_parameter_example():
    variables = normalise_variables(unwrap_variables(NEW_CASE_PARAMETER_EXAMPLE))
    assert variables == {
        "client": "Acme Inc.",
        "amount": "23456.99",
        "dateDue": "2015-12-31 23:59:59",
        "contractCheckbox": ["1"],
        "contactCheckgroup": ["fax", "email", "phone"],
    }


def test_new_case_javascript_example():
    assert normalise_variables(unwrap_variables([NEW_CASE_JS_VARIABLES])) == NEW_CASE_STORED


def test_new_case_php_example_sent_with_http_build_query_stores_the_same():
    fields = parse_urlencoded(SEED_NEW_CASE_QUERY)
    assert normalise_variables(unwrap_variables(fields["variables"])) == NEW_CASE_STORED


def test_new_case_php_grid_as_a_numbered_array_is_an_object_of_rows():
    # PHP: "contactsGrid" => array('1' => array(...), '2' => ..., '3' => ...), sent as JSON
    # by json_encode gives an object keyed "1".."3"; a JS client may send a list of rows.
    rows = list(NEW_CASE_JS_VARIABLES["contactsGrid"].values())
    variables = normalise_variables({"contactsGrid": rows})
    assert variables["contactsGrid"] == NEW_CASE_JS_VARIABLES["contactsGrid"]


def test_set_variables_javascript_example():
    assert normalise_variables(SET_VARIABLES_JS) == {
        **SET_VARIABLES_JS,
        "quantity": "56789",
        "amount": "12249.99",
    }


def test_set_variables_sent_as_a_php_form_stores_the_same():
    from_form = normalise_variables(parse_urlencoded(SEED_SET_VARIABLES_QUERY))
    from_json = normalise_variables(SET_VARIABLES_JS)
    assert from_form == {k: v for k, v in from_json.items() if k in from_form}


def test_get_variables_example_round_trips_and_its_system_part_is_computed():
    user_part = {k: v for k, v in GET_VARIABLES_EXAMPLE.items() if k not in SYSTEM_VARIABLES}
    assert normalise_variables(user_part) == user_part
    system = system_variables(
        workspace="workflow",
        app_uid="78484118955bbd5fc39e5c5072875367",
        pro_uid="189248173559579a84bf665046423742",
        tas_uid="37438452555b10cffda9428064171274",
        del_index=2,
        user_uid="00000000000000000000000000000001",
        username="admin",
        pin="JQN",
    )
    shown = {**system, **user_part}
    assert shown == GET_VARIABLES_EXAMPLE
    assert list(shown) == list(GET_VARIABLES_EXAMPLE)  # the seed's order


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (True, "1"),
        (False, "0"),
        (56789, "56789"),
        (-3, "-3"),
        (12249.99, "12249.99"),
        (23456.99, "23456.99"),
        (45323.5, "45323.5"),
        (2.0, "2"),
        (0.0, "0"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (0.1 + 0.2, "0.30000000000000004"),
        (None, ""),
        ("2015-12-31 23:59:59", "2015-12-31 23:59:59"),
        ("", ""),
        ([True, 1, None, "x"], ["1", "1", "", "x"]),
        ([], []),
        ({}, {}),
    ],
)
def test_values_are_stored_as_strings(value, stored):
    assert normalise_variables({"v": value}) == {"v": stored}


def test_number_text_never_uses_an_exponent():
    for number in (1e-10, 1e16, 1.7976931348623157e308, 123456789.123):
        assert "e" not in number_text(number).lower()


def test_grids_are_renumbered_objects_of_rows():
    rows = {"3": {"a": 3}, "1": {"a": True}, "10": {"a": None, "a_label": None}}
    assert normalise_variables({"g": rows}) == {
        "g": {"1": {"a": "1"}, "2": {"a": "3"}, "3": {"a": "", "a_label": None}}
    }
    assert normalise_variables({"g": [{"check": [True]}]}) == {"g": {"1": {"check": ["1"]}}}


def test_other_objects_keep_their_keys():
    value = {"street": "Main", "number": 5, "tags": ["a"], "nested": {"x": False}}
    assert normalise_variables({"address": value}) == {
        "address": {"street": "Main", "number": "5", "tags": ["a"], "nested": {"x": "0"}}
    }


def test_labels_are_kept_as_given():
    given = {"x_label": ["Fax", "E-mail"], "y_label": 5, "z_label": {"a": True}}
    assert normalise_variables(given) == given


def test_normalising_twice_changes_nothing():
    once = normalise_variables(SET_VARIABLES_JS)
    assert normalise_variables(once) == once


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"1st": "x"}, "invalid variable name '1st'"),
        ({"my var": "x"}, "invalid variable name 'my var'"),
        ({"café": "x"}, "invalid variable name 'café'"),
        ({"a-b": "x"}, "invalid variable name 'a-b'"),
        ({"": "x"}, "invalid variable name ''"),
        ({"x" * 65: "x"}, "invalid variable name"),
        ({"SYS_LANG": "fr"}, "the system variable SYS_LANG cannot be changed"),
        ({"APPLICATION": "x"}, "the system variable APPLICATION cannot be changed"),
        ({"PIN": "x"}, "the system variable PIN cannot be changed"),
        ({"v": float("nan")}, "nan is not a number"),
        ({"v": [1, {"a": 1}]}, "v must be a list of values"),
        ({"v": [[1]]}, "v must be a list of values"),
        ({"v": {"a.b": 1}}, "invalid key 'a.b'"),
        ({"v": {"$where": 1}}, "invalid key '$where'"),
        ({"v": object()}, "v holds a value of type object"),
        ({"v": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}, "deeper than 8"),
    ],
)
def test_invalid_variables_are_refused_with_a_message(raw, message):
    with pytest.raises(VariablesError) as err:
        normalise_variables(raw)
    assert message in err.value.message


def test_names_are_case_sensitive_and_may_start_with_underscore():
    assert normalise_variables({"sys_lang": "x", "_a1": 1}) == {"sys_lang": "x", "_a1": "1"}


def test_limits_on_count_and_size():
    with pytest.raises(VariablesError, match="at most"):
        normalise_variables({f"v{i}": "" for i in range(MAX_VARIABLES + 1)})
    with pytest.raises(VariablesError, match="the limit is"):
        normalise_variables({"big": "x" * MAX_SIZE})


def test_merge_sets_and_replaces_but_never_removes():
    current = {"a": "1", "grid": {"1": {"x": "1"}, "2": {"x": "2"}}, "keep": "k"}
    new = normalise_variables({"a": 2, "grid": [{"x": 3}], "added": True})
    assert merge_variables(current, new) == {
        "a": "2",
        "grid": {"1": {"x": "3"}},
        "keep": "k",
        "added": "1",
    }
    assert merge_variables(current, {}) == current
    assert current["a"] == "1"  # the current variables are not changed in place


def test_merge_enforces_the_case_limits():
    half = "x" * (MAX_SIZE // 2)
    current = normalise_variables({"a": half})
    with pytest.raises(VariablesError, match="the limit is"):
        merge_variables(current, {"b": half})
    many = {f"v{i}": "" for i in range(MAX_VARIABLES)}
    with pytest.raises(VariablesError, match="at most"):
        merge_variables(many, {"one_more": ""})


def test_unwrap_accepts_the_seed_array_or_a_bare_object():
    assert unwrap_variables(None) == {}
    assert unwrap_variables({"a": 1}) == {"a": 1}
    assert unwrap_variables([{"a": 1}, {"b": 2, "a": 3}]) == {"a": 3, "b": 2}
    with pytest.raises(VariablesError):
        unwrap_variables("a=1")
    with pytest.raises(VariablesError):
        unwrap_variables([{"a": 1}, "b"])
