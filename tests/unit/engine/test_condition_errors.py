"""Condition errors, limits and hostile input."""

import re
import time
from pathlib import Path

import pytest

from services.cases.engine import conditions
from services.cases.engine.conditions import (
    MAX_CONDITION_LENGTH,
    Condition,
    evaluate_condition,
    parse_condition,
)
from services.cases.engine.errors import ConditionError, EngineError
from services.cases.engine.expressions import MAX_DEPTH, MAX_NODES


def value(text: str):
    return conditions.Evaluator({}).value(parse_condition(text).root)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("__import__('os')", "function calls are not supported", 1),
        ("`rm -rf /`", "unexpected character '`'", 1),
        ("@@a; drop table", "unexpected ';'", 4),
        ("'unterminated", "unterminated string", 1),
        ('@@a == "open', "unterminated string", 8),
        ("@@a ==", "ends too early", 7),
        ("(@@a == 1", "expected ')'", 10),
        ("@@a == 1)", "unexpected ')'", 9),
        ("1 < 2 < 3", "cannot be chained", 7),
        ("1 == 1 == 1", "cannot be chained", 8),
        ("name == 'x'", "unknown name 'name'", 1),
        ("@@", "expected a variable name", 1),
        ("@name", "needs a prefix", 1),
        ("@&obj", "not supported", 1),
        ("@?url", "not supported", 1),
        ("@$sql", "not supported", 1),
        ("$x == 1", "unexpected character '$'", 1),
        ("@@a = 1", "unexpected '='", 5),
        ("1 <=> 2", "'<=>' operator is not supported", 3),
        ("12abc", "malformed number", 1),
        ("@@a == 1 and", "ends too early", 13),
        ("1 == not 2", "parentheses", 6),
        ("/* open", "unterminated comment", 1),
        ("os.system('x')", "unknown name 'os'", 1),
        ("{}", "unexpected '{'", 1),
        ('"\\u{110000}"', "not a valid code point", 2),
    ],
)
def test_invalid_conditions_are_explained(text, message, position):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert f"at position {position}" in str(caught.value)
    assert isinstance(caught.value, EngineError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 / 0", "division by zero"),
        ("5 % 0", "modulo by zero"),
        ("5 % 0.5", "modulo by zero"),
        ("1 + @=list", "cannot be used in arithmetic"),
        ("@#a / @#missing", "division by zero"),
    ],
)
def test_evaluation_errors(text, message):
    with pytest.raises(ConditionError, match=message):
        evaluate_condition(text, {"list": [1], "a": "1"})


def test_hostile_inputs_fail_fast():
    hostile = [
        "(" * 5000 + "1" + ")" * 5000,
        "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "!" * (MAX_DEPTH + 1) + "1",
        "-" * (MAX_DEPTH + 1) + "1",
        " + ".join(["1"] * (MAX_NODES // 2 + 2)),
        "'" + "a" * 3000,
        "@@a == " * 400,
    ]
    for text in hostile:
        began = time.perf_counter()
        with pytest.raises(ConditionError):
            evaluate_condition(text, {})
        assert time.perf_counter() - began < 0.5, text[:40]


def test_limits_are_documented_in_errors():
    with pytest.raises(ConditionError, match=f"longer than {MAX_CONDITION_LENGTH}"):
        parse_condition("1" + " " * MAX_CONDITION_LENGTH)
    with pytest.raises(ConditionError, match=f"more than {MAX_DEPTH} levels"):
        parse_condition("(" * 40 + "1" + ")" * 40)
    with pytest.raises(ConditionError, match=f"more than {MAX_NODES} parts"):
        parse_condition("+".join(["1"] * 300))


def test_at_the_limits_still_works():
    assert evaluate_condition("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH, {})
    assert value("+".join(["1"] * 250)) == 250


def test_string_results_are_capped(monkeypatch):
    monkeypatch.setattr(conditions, "MAX_STRING", 10)
    assert value("'12345' . '12345'") == "1234512345"
    with pytest.raises(ConditionError, match="longer than 10 characters"):
        evaluate_condition("'12345' . '123456'", {})


def test_step_budget(monkeypatch):
    monkeypatch.setattr(conditions, "MAX_STEPS", 5)
    assert evaluate_condition("1 + 1", {})
    with pytest.raises(ConditionError, match="too many steps"):
        evaluate_condition("1 + 1 + 1 + 1 + 1", {})


def test_parsed_conditions_are_reusable_and_immutable():
    parsed = parse_condition("@#amount > 1000")
    assert isinstance(parsed, Condition)
    assert evaluate_condition(parsed, {"amount": "2000"})
    assert not evaluate_condition(parsed, {"amount": "10"})
    with pytest.raises(AttributeError):
        parsed.text = "x"  # type: ignore[misc]


def test_non_text_is_rejected():
    with pytest.raises(ConditionError, match="must be text"):
        parse_condition(42)  # type: ignore[arg-type]


def test_the_engine_never_evaluates_user_text_as_code():
    # Builtins only: re.compile() of our own patterns is fine.
    forbidden = re.compile(r"(?<![.\w])(eval|exec|compile|__import__)\s*\(|literal_eval")
    engine = Path(conditions.__file__).parent
    for source in engine.glob("*.py"):
        assert not forbidden.search(source.read_text()), source.name
