"""TheHive's query language compiled to typed filters, and refused when hostile."""

from __future__ import annotations

import pytest

from casemesh.store.filters import And, Contains, Eq, Exists, In, Not, Or, Range, Sort
from services.notes.pm_query import parse_notes_query
from services.notes.thehive_query import SearchError, compile_query, parse_range, parse_sort
from services.notes.trackops_body import Invalid, clean_body, read_update


def test_operators_compile():
    assert compile_query({}) is None
    assert compile_query({"status": "Ok"}) == Eq("status", "Ok")
    assert compile_query({"_not": {"_field": "message", "_value": "x"}}) == Not(Eq("text", "x"))
    assert compile_query({"_between": {"_field": "startDate", "_from": 1, "_to": "5"}}) == Range(
        "start_ms", gt=1, lt=5
    )
    assert compile_query({"_or": [{"_id": "a"}, {"_contains": "attachment.name"}]}) == Or(
        Eq("id", "a"), Exists("attachment.name")
    )
    assert compile_query({"_in": {"_field": "status", "_values": ["Ok"]}}) == In("status", ("Ok",))
    assert compile_query({"_like": {"_field": "message", "_value": "Mal"}}) == Contains(
        "text", "Mal"
    )
    assert compile_query({"_parent": {"_type": "case_task", "_id": "t"}}) == Eq("task_id", "t")
    assert compile_query({"_and": [{"_any": "*"}, {"status": "Ok"}]}) == And(Eq("status", "Ok"))


@pytest.mark.parametrize(
    "query",
    [
        {"$where": "1"},
        {"_unknown": 1},
        {"text": "x"},
        {"message": {"$ne": 1}},
        {"_field": "a.b; DROP", "_value": 1},
        {"_gt": {"startDate": "abc"}},
        {"_child": {}},
        {"_string": "a OR b"},
        [],
    ],
)
def test_hostile_queries(query):
    with pytest.raises(SearchError):
        compile_query(query)


def test_range_and_sort():
    assert parse_range(None) == (0, 10)
    assert parse_range("all") == (0, None)
    assert parse_range("5-15") == (5, 10)
    with pytest.raises(SearchError):
        parse_range("5-1")
    assert parse_sort(None) == [Sort("start_ms", True), Sort("id", True)]
    with pytest.raises(SearchError):
        parse_sort(["-doc"])


def test_notes_query_allow_list():
    q = parse_notes_query({"sort": "APP_NOTES.USR_UID", "dir": "asc", "date_to": "2015-12-31"})
    assert q.order()[0] == Sort("author", False) and q.dir == "ASC"
    with pytest.raises(Exception, match="sort"):
        parse_notes_query({"sort": "APP_NOTES.NOTE_CONTENT"})


def test_body_sanitising():
    dirty = '<p onclick="x"><b>ok</b><script>alert(1)</script><a href="javascript:x">l</a></p>'
    clean = clean_body(dirty)
    assert "<b>ok</b>" in clean and "script" not in clean and "onclick" not in clean
    assert "javascript" not in clean
    with pytest.raises(Invalid):
        read_update({"title": "t"}, creating=True)
    assert read_update({"title": "<b>T</b>"}, creating=False) == {"title": "T"}
