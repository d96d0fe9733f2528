"""ProcessMaker route conditions: PHP-like values, a tree-walking evaluator, the API.

``parse_condition`` builds an AST (see :mod:`expressions`); ``evaluate_condition``
walks it with PHP semantics: loose comparison as in PHP 8 (numeric strings
compare as numbers, otherwise as strings), lenient arithmetic as in PHP 7
(``"12abc" + 1`` is 13, ``"" + 1`` is 1), PHP truthiness. Every evaluation
has a step budget and string results are capped, so hostile text stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import ConditionError
from .expressions import (
    Binary,
    ExpressionParser,
    ExpressionProblem,
    Literal,
    Node,
    Unary,
    Var,
    tokenize,
)

MAX_CONDITION_LENGTH = 2000
MAX_STEPS = 10_000  # evaluation steps for one condition
MAX_STRING = 100_000  # characters in any string the language builds

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# PHP numeric strings: optional surrounding whitespace, sign, digits, fraction, exponent.
_NUMERIC = re.compile(r"[ \t\n\r\v\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_WHITESPACE = " \t\n\r\v\f"


# --- PHP values ------------------------------------------------------------------


def to_str(value: Any) -> str:
    """PHP's string conversion (``@@``, ``.``): true is "1", false and null are ""."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return _float_str(value)
    if isinstance(value, (list, dict)):
        return "Array"
    return str(value)


def _float_str(f: float) -> str:
    """Like PHP's ``(string)$float`` with precision 14: 0.1 + 0.2 is "0.3", 1e20 "1.0E+20"."""
    if math.isnan(f):
        return "NAN"
    if math.isinf(f):
        return "INF" if f > 0 else "-INF"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    text = f"{f:.14G}"
    if "E" not in text:
        return text
    mantissa, exponent = text.split("E")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{exponent[0]}{exponent[1:].lstrip('0') or '0'}"


def _from_numeric_text(text: str) -> int | float:
    if any(c in text for c in ".eE") or len(text) > 20:  # long digit runs: float, like PHP
        return float(text)
    return _int_or_float(int(text))


def numeric(value: str) -> int | float | None:
    """The number a PHP *numeric string* stands for, or None if it is not one."""
    match = _NUMERIC.match(value)
    if match is None or value[match.end() :].strip(_WHITESPACE):
        return None
    return _from_numeric_text(match.group(1))


def to_number(value: Any) -> int | float:
    """Arithmetic operand: null/false 0, true 1, strings by their leading number (else 0)."""
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, dict)):
        raise ExpressionProblem("a list or grid cannot be used in arithmetic")
    match = _NUMERIC.match(str(value))
    return _from_numeric_text(match.group(1)) if match else 0


def to_float(value: Any) -> float:
    """``@#``: the value as a float (lists and grids count as 1 if not empty, like PHP)."""
    if isinstance(value, (list, dict)):
        return float(bool(value))
    return float(to_number(value))


def to_int(value: Any) -> int:
    """``@%``: the value as an integer, truncating decimals; out-of-range numbers are 0."""
    number = to_float(value) if isinstance(value, (list, dict)) else to_number(value)
    if isinstance(number, float):
        if not math.isfinite(number) or not _INT_MIN <= number <= _INT_MAX:
            return 0
        return int(number)
    return number


def to_bool(value: Any) -> bool:
    """PHP truthiness: "", "0", 0, 0.0, null, false and empty lists are false."""
    if isinstance(value, str):
        return value not in ("", "0")
    return _is_nan(value) or bool(value)


def convert(prefix: str, value: Any) -> Any:
    """Apply a variable prefix: ``@`` string, ``#`` float, ``%`` integer, ``=`` as is."""
    if prefix == "@":
        return to_str(value)
    if prefix == "#":
        return to_float(value)
    if prefix == "%":
        return to_int(value)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, dict)):
        return "array"
    return "string"


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _sign(a: Any, b: Any) -> int | None:
    if _is_nan(a) or _is_nan(b):
        return None  # NAN is unordered: every comparison but != is false
    return (a > b) - (a < b)


def _as_mapping(value: list | dict) -> dict[str, Any]:
    items = enumerate(value) if isinstance(value, list) else value.items()
    return {str(key): item for key, item in items}


def loose_compare(a: Any, b: Any) -> int | None:
    """PHP 8's ``<=>`` for loose comparison: -1, 0, 1, or None when not comparable."""
    ka, kb = _kind(a), _kind(b)
    if ka == "null" and kb == "string":
        a, ka = "", "string"
    elif kb == "null" and ka == "string":
        b, kb = "", "string"
    if "null" in (ka, kb) or "bool" in (ka, kb):
        return _sign(to_bool(a), to_bool(b))
    if ka == "array" or kb == "array":
        return _compare_arrays(a, b) if ka == kb else (1 if ka == "array" else -1)
    if ka == "string" or kb == "string":
        na = a if ka == "number" else numeric(str(a))
        nb = b if kb == "number" else numeric(str(b))
        if na is None or nb is None:
            return _sign(to_str(a), to_str(b))
        a, b = na, nb
    return _sign(a, b)


def _compare_arrays(a: list | dict, b: list | dict) -> int | None:
    ma, mb = _as_mapping(a), _as_mapping(b)
    if len(ma) != len(mb):
        return _sign(len(ma), len(mb))
    for key, item in ma.items():
        if key not in mb:
            return None
        result = loose_compare(item, mb[key])
        if result != 0:
            return result
    return 0


def strict_equal(a: Any, b: Any) -> bool:
    """PHP's ``===``: same type and value (1 and 1.0 differ)."""
    if _kind(a) == "array" and _kind(b) == "array":
        ia, ib = list(_as_mapping(a).items()), list(_as_mapping(b).items())
        return len(ia) == len(ib) and all(
            ka == kb and strict_equal(va, vb) for (ka, va), (kb, vb) in zip(ia, ib, strict=True)
        )
    return type(a) is type(b) and a == b


# --- evaluation ------------------------------------------------------------------


class Evaluator:
    """Walks an AST over ``variables`` within a step budget (shared across calls)."""

    def __init__(self, variables: Mapping[str, Any], budget: int | None = None) -> None:
        self.variables = variables
        self.budget = MAX_STEPS if budget is None else budget

    def value(self, node: Node) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ExpressionProblem("evaluation takes too many steps", node.pos)
        try:
            if isinstance(node, Literal):
                return node.value
            if isinstance(node, Var):
                return convert(node.prefix, self._lookup(node))
            if isinstance(node, Unary):
                return self._unary(node)
            return self._binary(node)
        except ExpressionProblem as problem:
            if problem.offset is None:
                problem.offset = node.pos
            raise

    def truth(self, node: Node) -> bool:
        return to_bool(self.value(node))

    def _lookup(self, node: Var) -> Any:
        value = self.variables.get(node.name, "")  # missing variables are "", as in PHP
        for key_node in node.keys:
            key = to_str(self.value(key_node))
            if isinstance(value, dict):  # grids: {"1": {"field": …}, "2": …}
                value = value.get(key, "")
            elif isinstance(value, list) and _is_index(key) and int(key) < len(value):
                value = value[int(key)]
            else:
                value = ""
        return value

    def _unary(self, node: Unary) -> Any:
        value = self.value(node.operand)
        if node.op in ("!", "not"):
            return not to_bool(value)
        number = to_number(value)
        return _int_or_float(-number) if node.op == "-" else number

    def _binary(self, node: Binary) -> Any:
        op = node.op
        if op == "and":
            return self.truth(node.left) and self.truth(node.right)
        if op == "or":
            return self.truth(node.left) or self.truth(node.right)
        left, right = self.value(node.left), self.value(node.right)
        if op == "xor":
            return to_bool(left) != to_bool(right)
        if op == "===":
            return strict_equal(left, right)
        if op == "!==":
            return not strict_equal(left, right)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return _compare(op, left, right)
        if op == ".":
            text = to_str(left) + to_str(right)
            if len(text) > MAX_STRING:
                raise ExpressionProblem(f"text longer than {MAX_STRING} characters")
            return text
        return _arithmetic(op, to_number(left), to_number(right))


def _is_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and len(key) < 10 and (key == "0" or key[0] != "0")


def _compare(op: str, left: Any, right: Any) -> bool:
    result = loose_compare(left, right)
    if op == "!=":
        return result != 0
    if result is None:
        return False
    if op == "==":
        return result == 0
    if op == "<":
        return result < 0
    if op == "<=":
        return result <= 0
    if op == ">":
        return result > 0
    return result >= 0


def _arithmetic(op: str, x: int | float, y: int | float) -> int | float:
    if op in ("/", "%") and y == 0:
        raise ExpressionProblem("division by zero" if op == "/" else "modulo by zero")
    if op == "+":
        return _int_or_float(x + y)
    if op == "-":
        return _int_or_float(x - y)
    if op == "*":
        return _int_or_float(x * y)
    if op == "/":
        if isinstance(x, int) and isinstance(y, int) and x % y == 0:
            return _int_or_float(x // y)
        return x / y
    a, b = to_int(x), to_int(y)  # PHP's % works on integers; the sign follows the dividend
    if b == 0:
        raise ExpressionProblem("modulo by zero")
    remainder = abs(a) % abs(b)
    return -remainder if a < 0 else remainder


def _int_or_float(number: int | float) -> int | float:
    """PHP integers overflow into floats."""
    if isinstance(number, int) and not _INT_MIN <= number <= _INT_MAX:
        return float(number)
    return number


# --- public API ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition; ``root`` is None for an empty condition (always true)."""

    text: str
    root: Node | None


def parse_condition(text: str) -> Condition:
    """Parse ProcessMaker condition text; raises :class:`ConditionError`."""
    if not isinstance(text, str):
        raise ConditionError("a condition must be text")
    return _parse(text)


@lru_cache(maxsize=1024)
def _parse(text: str) -> Condition:
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"longer than {MAX_CONDITION_LENGTH} characters")
    if not text.strip():
        return Condition(text, None)
    try:
        parser = ExpressionParser(tokenize(text))
        root = parser.parse_expression()
        extra = parser.peek()
        if extra.kind != "end":
            raise ExpressionProblem(f"unexpected {extra.describe()}", extra.pos)
    except ExpressionProblem as problem:
        raise _located(problem) from None
    return Condition(text, root)


def evaluate_condition(condition: str | Condition, variables: Mapping[str, Any]) -> bool:
    """True if the condition holds for the case ``variables``; empty text is true."""
    parsed = condition if isinstance(condition, Condition) else parse_condition(condition)
    if parsed.root is None:
        return True
    try:
        return Evaluator(variables).truth(parsed.root)
    except ExpressionProblem as problem:
        raise _located(problem) from None
    except RecursionError:
        raise ConditionError("expression too deeply nested to evaluate") from None


def _located(problem: ExpressionProblem) -> ConditionError:
    position = None if problem.offset is None else problem.offset + 1
    return ConditionError(problem.message, position=position)
