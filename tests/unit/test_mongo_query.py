"""The MongoDB filter compiler: exact query documents, and no way to inject an operator."""

from __future__ import annotations

import re

import pytest

from casemesh.store.filters import And, Contains, Eq, Exists, Has, In, Not, Or, Range, Sort
from casemesh.store.mongo_query import (
    MATCH_ALL,
    MATCH_NOTHING,
    compile_filter,
    compile_sort,
    field_name,
    regex_literal,
)


def test_no_filter_matches_everything():
    assert compile_filter(None) == {}
    assert MATCH_ALL == {}
    assert MATCH_NOTHING == {"_id": {"$in": []}}


def test_equality_including_null_and_nested_paths():
    assert compile_filter(Eq("ws", "a")) == {"ws": "a"}
    assert compile_filter(Eq("age", 31)) == {"age": 31}
    assert compile_filter(Eq("active", True)) == {"active": True}
    assert compile_filter(Eq("nick", None)) == {"nick": None}
    assert compile_filter(Eq("address.zip", "10117")) == {"address.zip": "10117"}


def test_id_is_stored_as_underscore_id():
    assert field_name("id") == "_id"
    assert field_name("ids") == "ids"
    assert field_name("owner.id") == "owner.id"
    assert compile_filter(Eq("id", "p1")) == {"_id": "p1"}
    assert compile_filter(In("id", ("p1", "p2"))) == {"_id": {"$in": ["p1", "p2"]}}


def test_in_keeps_none_and_empty_matches_nothing():
    assert compile_filter(In("name", ("adam", None))) == {"name": {"$in": ["adam", None]}}
    assert compile_filter(In("name", ())) == {"name": {"$in": []}}


def test_range_bounds():
    assert compile_filter(Range("age", gte=31)) == {"age": {"$gte": 31}}
    assert compile_filter(Range("age", gt=25, lt=40)) == {"age": {"$gt": 25, "$lt": 40}}
    assert compile_filter(Range("zip", gte="1", lte="2")) == {"zip": {"$gte": "1", "$lte": "2"}}
    # No bounds: present and not null, like SQLite's IS NOT NULL.
    assert compile_filter(Range("age")) == {"age": {"$ne": None}}


def test_contains_is_a_case_insensitive_literal_regex():
    assert compile_filter(Contains("name", "Zoë")) == {"name": {"$regex": "Zoë", "$options": "i"}}
    assert compile_filter(Contains("name", ".*")) == {"name": {"$regex": r"\.\*", "$options": "i"}}
    assert compile_filter(Contains("name", "")) == {"name": {"$regex": "", "$options": "i"}}


@pytest.mark.parametrize(
    "text",
    [
        ".*",
        "a+b",
        "(x)",
        "[a-z]",
        "^$",
        "a|b",
        "\\d",
        "{2}",
        "100%",
        "a_b",
        "x\ny",
        "nul\x00",
        "ü?",
    ],
)
def test_regex_literal_matches_only_the_text_itself(text):
    pattern = regex_literal(text)
    assert "\x00" not in pattern  # MongoDB refuses a pattern with an embedded NUL
    assert re.fullmatch(pattern, text)
    assert re.search(pattern, "prefix " + text + " suffix")
    if len(text) > 1:
        assert not re.search(pattern, text[:-1])


def test_has_matches_array_elements_and_none_matches_nothing():
    assert compile_filter(Has("tags", "x")) == {"tags": "x"}
    assert compile_filter(Has("tags", 2)) == {"tags": 2}
    # SQLite compares json_each.value = NULL, which is never true.
    assert compile_filter(Has("tags", None)) == MATCH_NOTHING


def test_exists_counts_null_as_present():
    assert compile_filter(Exists("nick")) == {"nick": {"$exists": True}}
    assert compile_filter(Exists("id")) == {"_id": {"$exists": True}}


def test_and_or_not():
    a, b = Eq("ws", "a"), Eq("age", 31)
    assert compile_filter(And(a, b)) == {"$and": [{"ws": "a"}, {"age": 31}]}
    assert compile_filter(Or(a, b)) == {"$or": [{"ws": "a"}, {"age": 31}]}
    assert compile_filter(Not(a)) == {"$nor": [{"ws": "a"}]}
    assert compile_filter(And(a, Not(Or(b, Eq("name", "Bea"))))) == {
        "$and": [{"ws": "a"}, {"$nor": [{"$or": [{"age": 31}, {"name": "Bea"}]}]}]
    }


def test_empty_and_or_and_their_negations():
    assert compile_filter(And()) == MATCH_ALL
    assert compile_filter(Or()) == MATCH_NOTHING
    assert compile_filter(Not(And())) == MATCH_NOTHING
    assert compile_filter(Not(Or())) == MATCH_ALL
    a = Eq("ws", "a")
    # Match-all parts drop out of $and, match-nothing parts out of $or ($and/$or
    # with an empty list are server errors, so they must never be produced).
    assert compile_filter(And(a, And())) == {"$and": [{"ws": "a"}]}
    assert compile_filter(And(a, Or())) == MATCH_NOTHING
    assert compile_filter(Or(a, Or())) == {"$or": [{"ws": "a"}]}
    assert compile_filter(Or(a, And())) == MATCH_ALL
    assert compile_filter(And(And(), And())) == MATCH_ALL
    assert compile_filter(Or(Or(), Has("tags", None))) == MATCH_NOTHING


def test_sort_maps_id_and_ends_with_id_tiebreaker():
    assert compile_sort([]) == [("_id", 1)]
    assert compile_sort([Sort("age", descending=True), Sort("name")]) == [
        ("age", -1),
        ("name", 1),
        ("_id", 1),
    ]
    assert compile_sort([Sort("id", descending=True)]) == [("_id", -1)]
    assert compile_sort([Sort("name"), Sort("id")]) == [("name", 1), ("_id", 1)]
    assert compile_sort([Sort("name"), Sort("name", descending=True)]) == [
        ("name", 1),
        ("_id", 1),
    ]


# -- hostile input ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["{'$gt': ''}", '{"$ne": null}', "$where", "$gt", "this.password == 'x'", "a.$.b"],
)
def test_operator_looking_values_stay_literal_strings(value):
    for node in (Eq("name", value), Has("tags", value)):
        assert compile_filter(node) == {node.field: value}
    assert compile_filter(In("name", (value,))) == {"name": {"$in": [value]}}
    assert compile_filter(Range("name", gte=value)) == {"name": {"$gte": value}}
    contains = compile_filter(Contains("name", value))["name"]["$regex"]
    assert "$" not in contains.replace("\\$", "")


@pytest.mark.parametrize(
    "field",
    ["$where", "$gt", "a.$gt", "a.$", "$", "a..b", ".a", "a.", "a b", "", "name\x00", "a[0]"],
)
def test_operator_field_names_are_refused_at_node_construction(field):
    with pytest.raises(ValueError):
        Eq(field, 1)
    with pytest.raises(ValueError):
        Exists(field)
    with pytest.raises(ValueError):
        Sort(field)
    with pytest.raises(ValueError):
        field_name(field)


@pytest.mark.parametrize("value", [{"$gt": ""}, {"$ne": None}, ["$where"], object()])
def test_document_values_are_refused_at_node_construction(value):
    with pytest.raises(TypeError):
        Eq("name", value)
    with pytest.raises(TypeError):
        In("name", (value,))
    with pytest.raises(TypeError):
        Range("age", gt=value)
    with pytest.raises(TypeError):
        Has("tags", value)


def test_a_node_forged_around_its_constructor_still_cannot_carry_an_operator():
    forged = object.__new__(Eq)
    object.__setattr__(forged, "field", "password")
    object.__setattr__(forged, "value", {"$ne": None})
    with pytest.raises(TypeError):
        compile_filter(forged)
    forged_field = object.__new__(Eq)
    object.__setattr__(forged_field, "field", "$where")
    object.__setattr__(forged_field, "value", "1")
    with pytest.raises(ValueError):
        compile_filter(forged_field)


def test_unknown_nodes_are_refused():
    with pytest.raises(TypeError):
        compile_filter({"$where": "1"})  # type: ignore[arg-type]
