"""Typed filters refuse anything that is not a plain field and value; events round-trip."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from casemesh.bus.port import RetryPolicy, topic_matches
from casemesh.events import Envelope, new_envelope
from casemesh.events.catalogue import SystemPing, model_for, parse_data
from casemesh.store.documents import apply_changes
from casemesh.store.filters import And, Contains, Eq, In, Not, Range, Sort, get_path


@pytest.mark.parametrize(
    "field", ["$where", "a.$gt", "", "a..b", "a b", "a;drop", "'a'", "a.b.c.d.e.f.g.h.i", "é"]
)
def test_hostile_field_paths_are_refused(field):
    with pytest.raises(ValueError):
        Eq(field, 1)
    with pytest.raises(ValueError):
        Sort(field)


@pytest.mark.parametrize("value", [{"$gt": ""}, ["a"], object(), datetime(2026, 1, 1)])
def test_non_scalar_values_are_refused(value):
    with pytest.raises(TypeError):
        Eq("a", value)
    with pytest.raises(TypeError):
        In("a", (value,))
    with pytest.raises(TypeError):
        Range("a", gt=value)


def test_only_filter_nodes_compose():
    with pytest.raises(TypeError):
        And(Eq("a", 1), {"$where": "1"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Not("a == 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Contains("a", 5)  # type: ignore[arg-type]


def test_get_path_and_apply_changes_reach_into_nested_objects():
    doc = {"id": "1", "a": {"b": {"c": 1}}, "x": "text"}
    assert get_path(doc, "a.b.c") == 1
    assert get_path(doc, "x.y") is None
    changed = apply_changes(doc, {"a.b.d": 2, "x": "new"})
    assert changed["a"]["b"] == {"c": 1, "d": 2} and changed["x"] == "new"
    assert doc["a"]["b"] == {"c": 1}, "the original is untouched"
    with pytest.raises(ValueError):
        apply_changes(doc, {"id": "2"})
    with pytest.raises(ValueError):
        apply_changes(doc, {"$set": 1})


def test_envelope_round_trip_and_validation():
    event = new_envelope(
        SystemPing(ping_id="p1", message="hi"),
        source="cases",
        workspace="workflow",
        subject="case-1",
        correlation_id="req-1",
    )
    assert (event.type, event.version) == ("system.ping", 1)
    again = Envelope.from_json_bytes(event.to_json_bytes())
    assert again == event
    assert parse_data(again) == SystemPing(ping_id="p1", message="hi")
    assert model_for("system.ping", 1) is SystemPing
    with pytest.raises(ValidationError):
        Envelope(type="Not A Type", version=1, source="x", workspace="w")
    with pytest.raises(ValidationError):
        Envelope(type="a.b", version=0, source="x", workspace="w")
    with pytest.raises(ValidationError):
        Envelope(type="a.b", version=1, source="x", workspace="w", extra=1)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("case.*", "case.routed", True),
        ("case.*", "case.task.overdue", False),
        ("case.#", "case.task.overdue", True),
        ("#", "anything.at.all", True),
        ("*.created", "note.created", True),
        ("note.created", "note.updated", False),
        ("case.#.overdue", "case.overdue", True),
    ],
)
def test_topic_patterns_match_like_amqp(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def test_retry_delays_grow_then_hold():
    policy = RetryPolicy(max_attempts=6, retry_delays=(1, 5, 30))
    assert [policy.delay_for(n) for n in range(1, 6)] == [1, 5, 30, 30, 30]
