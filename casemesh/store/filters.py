"""A small typed filter language for the document store.

Filters are trees of these frozen dataclasses. They are built by service code
from validated values, never parsed from client JSON, so no database operator
can be injected: adapters compile each node into their own query language and
field paths are checked against ``FIELD_PATH``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# A dotted path into nested objects: letters, digits and underscores only.
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z0-9_]{1,64}){0,7}$")

Scalar = str | int | float | bool | None


def check_field(path: str) -> str:
    if not isinstance(path, str) or not FIELD_PATH.match(path):
        raise ValueError(f"invalid field path: {path!r}")
    return path


def check_value(value: object) -> Scalar:
    if isinstance(value, datetime):
        raise TypeError("store datetimes as ISO strings, not datetime objects")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise TypeError(f"filter values must be scalars, got {type(value).__name__}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Eq:
    field: str
    value: Scalar

    def __post_init__(self) -> None:
        check_field(self.field)
        check_value(self.value)


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        check_field(self.field)
        object.__setattr__(self, "values", tuple(check_value(v) for v in self.values))


@dataclass(frozen=True)
class Range:
    """``gt``/``gte``/``lt``/``lte`` bounds; ``None`` means unbounded on that side."""

    field: str
    gt: Scalar = None
    gte: Scalar = None
    lt: Scalar = None
    lte: Scalar = None

    def __post_init__(self) -> None:
        check_field(self.field)
        for bound in (self.gt, self.gte, self.lt, self.lte):
            check_value(bound)


def fold(text: str) -> str:
    """The case-insensitive form ``Contains`` compares (Unicode full case folding)."""
    return text.casefold()


@dataclass(frozen=True)
class Contains:
    """Case-insensitive substring match on a text field (Unicode case folding).

    True when ``fold(text)`` is a substring of ``fold(value)`` and the field
    holds a string; a text index (``Index(text=…)``) answers it without
    reading every document.
    """

    field: str
    text: str

    def __post_init__(self) -> None:
        check_field(self.field)
        if not isinstance(self.text, str):
            raise TypeError("Contains.text must be a string")


@dataclass(frozen=True)
class Has:
    """An array field holds ``value`` as one of its elements."""

    field: str
    value: Scalar

    def __post_init__(self) -> None:
        check_field(self.field)
        check_value(self.value)


@dataclass(frozen=True)
class Exists:
    field: str

    def __post_init__(self) -> None:
        check_field(self.field)


@dataclass(frozen=True)
class And:
    parts: tuple[Filter, ...]

    def __init__(self, *parts: Filter) -> None:
        object.__setattr__(self, "parts", tuple(_check_filter(p) for p in parts))


@dataclass(frozen=True)
class Or:
    parts: tuple[Filter, ...]

    def __init__(self, *parts: Filter) -> None:
        object.__setattr__(self, "parts", tuple(_check_filter(p) for p in parts))


@dataclass(frozen=True)
class Not:
    part: Filter

    def __post_init__(self) -> None:
        _check_filter(self.part)


Filter = Eq | In | Range | Contains | Has | Exists | And | Or | Not
FILTER_TYPES = (Eq, In, Range, Contains, Has, Exists, And, Or, Not)


def _check_filter(node: object) -> Filter:
    if not isinstance(node, FILTER_TYPES):
        raise TypeError(f"not a filter node: {type(node).__name__}")
    return node  # type: ignore[return-value]


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False

    def __post_init__(self) -> None:
        check_field(self.field)


def get_path(doc: dict, path: str) -> object:
    """Read a dotted path from a nested dict; missing parts give ``None``."""
    node: object = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
