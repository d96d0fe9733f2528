import math

import pytest

from services.cases.engine import conditions
from services.cases.engine.conditions import (
    evaluate_condition,
    loose_compare,
    parse_condition,
    to_str,
)

VARIABLES = {
    "amount": "1500.50",
    "count": "3",
    "name": "Alice",
    "empty": "",
    "zero": "0",
    "flag": True,
    "n": 7,
    "f": 2.5,
    "leading": "12abc",
    "list": ["a", "b"],
    "grid": {"1": {"name": "Betty", "approved": "1"}, "2": {"name": "Bill", "approved": "0"}},
}


def value(text: str, variables: dict | None = None):
    """The value of an expression (not just its truth)."""
    parsed = parse_condition(text)
    return conditions.Evaluator(VARIABLES if variables is None else variables).value(parsed.root)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_condition_is_true(text):
    assert evaluate_condition(text, {}) is True
    assert parse_condition(text).root is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@@name == 'Alice'", True),
        ('@@name == "alice"', False),
        ("@@missing == ''", True),
        ("@#amount > 1000", True),
        ("@#amount == 1500.5", True),
        ("@%amount == 1500", True),
        ("@%leading == 12", True),
        ("@#missing == 0", True),
        ("@=n === 7", True),
        ("@=n === '7'", False),
        ("@@n === '7'", True),
        ("@=flag === true", True),
        ("@@flag === '1'", True),
        ("@#f * 2 == 5", True),
        ("@%f == 2", True),
        ("@@count > 2", True),
        ("@@count > '10'", False),  # both numeric strings: compared as numbers
        ("@@name > 'Aaron'", True),  # not numeric: string comparison
    ],
)
def test_variable_prefixes(text, expected):
    assert evaluate_condition(text, VARIABLES) is expected


def test_prefix_conversions():
    assert value("@@n") == "7"
    assert value("@#n") == 7.0 and isinstance(value("@#n"), float)
    assert value("@%amount") == 1500
    assert value("@=list") == ["a", "b"]
    assert value("@@missing") == ""
    assert value("@=missing") == ""
    assert value("@@flag") == "1"
    assert value("@@list") == "Array"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@@grid[1][name]", "Betty"),
        ("@@grid[2]['name']", "Bill"),
        ('@@grid["2"][approved]', "0"),
        ("@@grid[1 + 1][name]", "Bill"),
        ("@@grid[@%count][name]", ""),
        ("@@grid[9][name]", ""),
        ("@@list[0]", "a"),
        ("@@list[1]", "b"),
        ("@@list[2]", ""),
        ("@@list[x]", ""),
        ("@@name[0]", ""),
        ("@#grid[1][approved]", 1.0),
    ],
)
def test_grid_access(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("'a' . 1 + 2", "a3"),  # PHP 8: + binds tighter than .
        ("'a' . 'b' . 'c'", "abc"),
        ("1 < 2 == true", True),
        ("true || false && false", True),
        ("(true || false) && false", False),
        ("true or false and false", True),
        ("false and true or true", True),
        ("true xor true", False),
        ("true xor false", True),
        ("!false && false", False),
        ("not false && false", False),
        ("not 1 == 2", True),  # not is looser than comparisons
        ("!1 == 2", False),  # ! binds tightly, as in PHP: (!1) == 2
        ("NOT true OR TRUE", True),  # keywords are case-insensitive
        ("TRUE AND Null", False),
        ("1 && 2", True),
        ("'0' || ''", False),
    ],
)
def test_precedence_and_logic(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 / 2", 3.5),
        ("8 / 2", 4),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("7.9 % 3", 1),
        ("'5' + '5'", 10),
        ("'1.5' + 1", 2.5),
        ("'12abc' + 1", 13),
        ("'abc' + 1", 1),
        ("'' + 1", 1),
        ("null + true", 1),
        ("9223372036854775807 + 1", 9.223372036854776e18),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("99999999999999999999", 1e20),
    ],
)
def test_arithmetic(text, expected):
    result = value(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("1", "01", True),
        ("10", "1e1", True),
        ("100", "1e2", True),
        (" 1", "1", True),
        ("abc", 0, False),  # PHP 8: a non-numeric string is not 0
        ("1", 1, True),
        ("1.0", 1, True),
        ("", None, True),
        ("0", None, False),
        (0, None, True),
        ("0", False, True),
        ("", False, True),
        ("a", True, True),
        ([], False, True),
        (["1"], [1], True),
        (["1"], ["1", "2"], False),
        ({"a": 1}, {"b": 1}, False),
        ("abc", "ABC", False),
        (1.5, "1.50", True),
    ],
)
def test_php_loose_equality(left, right, equal):
    assert (loose_compare(left, right) == 0) is equal
    assert (loose_compare(right, left) == 0) is equal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'10' > '9'", True),  # numeric strings: numbers
        ("'10' > '9a'", False),  # otherwise: strings
        ("'abc' < 'abd'", True),
        ("'b' >= 'a'", True),
        ("2 <= '2.0'", True),
        ("'1e3' == '1000'", True),
        ("'abc' == 0", False),
        ("null == false", True),
        ("null < 1", True),
        ("1 <> 2", True),
        ("1 != 1", False),
        ("1 === 1.0", False),
        ("1 !== 1.0", True),
        ("'1' === '1'", True),
    ],
)
def test_comparisons(text, expected):
    assert evaluate_condition(text, {}) is expected


def test_nan_is_unordered():
    assert loose_compare(math.nan, 1) is None
    assert evaluate_condition("@#x != @#x", {"x": math.nan}) is True
    assert evaluate_condition("@#x == @#x", {"x": math.nan}) is False


@pytest.mark.parametrize(
    ("raw", "truth"),
    [
        ("", False),
        ("0", False),
        ("0.0", True),
        (" ", True),
        ("a", True),
        (0, False),
        (0.0, False),
        (None, False),
        (False, False),
        ([], False),
        ([0], True),
        ({}, False),
        (-1, True),
    ],
)
def test_truthiness(raw, truth):
    assert evaluate_condition("@=x", {"x": raw}) is truth


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.1 + 0.2, "0.3"),
        (1.0, "1"),
        (1e20, "1.0E+20"),
        (1.5e-7, "1.5E-7"),
        (-0.0, "-0"),
        (100000000000000.0, "1.0E+14"),
        (12345.678, "12345.678"),
        (math.inf, "INF"),
    ],
)
def test_float_to_string_like_php(number, text):
    assert to_str(number) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"a\nb"', "a\nb"),
        (r'"tab\there"', "tab\there"),
        (r'"q\"q"', 'q"q'),
        (r'"\x41\x4a"', "AJ"),
        (r'"\u{263A}"', "\u263a"),
        (r'"keep\q"', "keep\\q"),
        (r'"$name"', "$name"),  # no interpolation
        (r"'it\'s'", "it's"),
        (r"'back\\slash'", "back\\slash"),
        (r"'no\nescape'", "no\\nescape"),
    ],
)
def test_string_literals(text, expected):
    assert value(text) == expected


def test_comments_are_allowed():
    assert evaluate_condition("/* big */ @#amount > 1000 // yes", VARIABLES)
