"""TheHive's query language (elastic4play) for task logs, compiled to the kernel's filters.

Input is client JSON; output is a tree of ``casemesh.store.filters`` nodes
over allow-listed stored fields, so nothing a client sends reaches the
database as an operator or a field name. Anything unknown raises
``SearchError`` before a query runs.

Operators: ``_and``, ``_or``, ``_not``, ``_any`` / ``{}``, ``{_field, _value}``
and bare ``{f: v}`` (equality), ``_gt/_gte/_lt/_lte: {f: v}``,
``_between: {_field, _from, _to}`` (both bounds exclusive), ``_in: {_field,
_values}``, ``_like`` (case-insensitive substring) and ``_strict`` (equality)
``: {_field, _value}``, ``_wildcard: {_field, _value}`` (``*`` and ``?``; each
literal piece must occur, case-insensitively), ``_contains: f`` (the field
exists), ``_id``, ``_parent: {_type: "case_task", _id | _query}``,
``_string`` (``field:value`` terms and bare words, all required). ``_child``
is refused: a log has no children.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from casemesh.store.filters import And, Contains, Eq, Exists, Filter, In, Not, Or, Range, Sort

# TheHive's field name -> the stored field; dotted names reach into the attachment.
LOG_FIELDS = {
    "message": "text",
    "startDate": "start_ms",
    "createdAt": "at_ms",
    "updatedAt": "updated_ms",
    "createdBy": "author_name",
    "updatedBy": "updated_by",
    "user": "author_name",
    "owner": "author_name",
    "status": "status",
    "id": "id",
    "_id": "id",
    "attachment.name": "attachment.name",
    "attachment.contentType": "attachment.contentType",
    "attachment.size": "attachment.size",
    "attachment.id": "attachment.id",
    "attachment.hashes": "attachment.hashes",
}
# The parent (case_task) as a log remembers it.
TASK_FIELDS = {
    "id": "task_id",
    "_id": "task_id",
    "title": "task_title",
    "tas_uid": "tas_uid",
    "caseId": "app_number",
}
NUMERIC = frozenset({"start_ms", "at_ms", "updated_ms", "attachment.size", "app_number"})
MAX_DEPTH = 32
MAX_NODES = 500
MAX_TEXT = 1000
MAX_RANGE = 10_000
_RANGE = re.compile(r"^(\d{1,9})-(\d{1,9})$")
_STRING_TERM = re.compile(r'^([A-Za-z_][A-Za-z0-9_.]*):(?:"([^"]*)"|(\S+))$')


class SearchError(Exception):
    """A query TheHive would refuse: answered 400 ``SearchError``."""


@dataclass
class _Budget:
    nodes: int = 0

    def spend(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise SearchError("the query is too large or too deep")


def compile_query(query: object) -> Filter | None:
    """A log query -> filter (``None``: everything)."""
    if query is None or query == "":
        return None
    return _compile(query, LOG_FIELDS, _Budget(), 0)


def _field(name: object, fields: dict[str, str]) -> str:
    if not isinstance(name, str) or name not in fields:
        raise SearchError(f"unknown field {str(name)[:100]!r}")
    return fields[name]


def _value(stored: str, value: object) -> str | int | float | bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise SearchError("a value is too long")
        if stored in NUMERIC:
            try:
                return int(value)
            except ValueError:
                raise SearchError(f"{value[:50]!r} is not a number") from None
        return value
    raise SearchError("values must be strings, numbers, booleans or null")


def _object(node: object, what: str) -> dict:
    if not isinstance(node, dict):
        raise SearchError(f"{what} needs an object")
    return node


def _compile(node: object, fields: dict[str, str], budget: _Budget, depth: int) -> Filter | None:
    budget.spend(depth)
    if not isinstance(node, dict):
        raise SearchError("a query must be an object")
    if not node:
        return None
    if len(node) > 1 and not any(k.startswith("_") for k in node):
        return And(*(_eq(k, v, fields) for k, v in node.items()))
    if "_field" in node:
        if set(node) - {"_field", "_value"}:
            raise SearchError("unexpected keys beside _field/_value")
        return _eq(node["_field"], node.get("_value"), fields)
    if len(node) != 1:
        raise SearchError("one operator per query object")
    ((op, arg),) = node.items()
    handler = _OPERATORS.get(op)
    if handler is not None:
        return handler(arg, fields, budget, depth)
    if op.startswith("_"):
        raise SearchError(f"unknown operator {op[:50]!r}")
    return _eq(op, arg, fields)


def _eq(name: object, value: object, fields: dict[str, str]) -> Filter:
    stored = _field(name, fields)
    return Eq(stored, _value(stored, value))


def _parts(arg: object, fields, budget, depth) -> list[Filter | None]:
    if not isinstance(arg, list):
        raise SearchError("_and/_or need a list")
    return [_compile(q, fields, budget, depth + 1) for q in arg]


def _and(arg, fields, budget, depth) -> Filter | None:
    parts = [p for p in _parts(arg, fields, budget, depth) if p is not None]
    return And(*parts) if parts else None


def _or(arg, fields, budget, depth) -> Filter | None:
    parts = _parts(arg, fields, budget, depth)
    if any(p is None for p in parts):
        return None  # one branch matches everything
    return Or(*parts)  # type: ignore[arg-type]


def _not(arg, fields, budget, depth) -> Filter:
    inner = _compile(arg, fields, budget, depth + 1)
    return Not(inner) if inner is not None else In("id", ())


def _any(arg, fields, budget, depth) -> None:
    return None


def _comparison(op: str):
    def compile_(arg, fields, budget, depth) -> Filter:
        obj = _object(arg, op)
        if len(obj) != 1:
            raise SearchError(f"{op} takes one field")
        ((name, value),) = obj.items()
        stored = _field(name, fields)
        return Range(stored, **{op[1:]: _value(stored, value)})

    return compile_


def _between(arg, fields, budget, depth) -> Filter:
    obj = _object(arg, "_between")
    stored = _field(obj.get("_field"), fields)
    if set(obj) - {"_field", "_from", "_to"}:
        raise SearchError("_between takes _field, _from and _to")
    low = _value(stored, obj["_from"]) if "_from" in obj else None
    high = _value(stored, obj["_to"]) if "_to" in obj else None
    return Range(stored, gt=low, lt=high)


def _in(arg, fields, budget, depth) -> Filter:
    obj = _object(arg, "_in")
    stored = _field(obj.get("_field"), fields)
    values = obj.get("_values")
    if not isinstance(values, list) or len(values) > MAX_NODES:
        raise SearchError("_in needs a list of _values")
    return In(stored, tuple(_value(stored, v) for v in values))


def _text_arg(arg, op: str, fields) -> tuple[str, str]:
    obj = _object(arg, op)
    if set(obj) - {"_field", "_value"}:
        raise SearchError(f"{op} takes _field and _value")
    stored = _field(obj.get("_field"), fields)
    value = obj.get("_value")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise SearchError(f"{op} needs a text _value")
    return stored, value


def _like(arg, fields, budget, depth) -> Filter:
    stored, value = _text_arg(arg, "_like", fields)
    return Contains(stored, value)


def _strict(arg, fields, budget, depth) -> Filter:
    stored, value = _text_arg(arg, "_strict", fields)
    return Eq(stored, _value(stored, value))


def _wildcard(arg, fields, budget, depth) -> Filter | None:
    stored, value = _text_arg(arg, "_wildcard", fields)
    pieces = [p for p in re.split(r"[*?]+", value) if p]
    if not pieces:
        return Exists(stored)
    if len(pieces) == 1 and not re.search(r"[*?]", value):
        return Eq(stored, value)
    return And(*(Contains(stored, p) for p in pieces))


def _contains(arg, fields, budget, depth) -> Filter:
    return Exists(_field(arg, fields))


def _id(arg, fields, budget, depth) -> Filter:
    if not isinstance(arg, str):
        raise SearchError("_id needs a string")
    return Eq(_field("_id", fields), arg)


def _parent(arg, fields, budget, depth) -> Filter | None:
    obj = _object(arg, "_parent")
    if fields is not LOG_FIELDS:
        raise SearchError("_parent is only for logs")
    if obj.get("_type") != "case_task":
        raise SearchError("the parent of a log is a case_task")
    if set(obj) - {"_type", "_id", "_query"} or ("_id" in obj) == ("_query" in obj):
        raise SearchError("_parent takes _type and either _id or _query")
    if "_id" in obj:
        if not isinstance(obj["_id"], str):
            raise SearchError("_id needs a string")
        return Eq("task_id", obj["_id"])
    return _compile(obj["_query"], TASK_FIELDS, budget, depth + 1)


def _child(arg, fields, budget, depth) -> Filter:
    raise SearchError("a case_task_log has no child type")


def _string(arg, fields, budget, depth) -> Filter | None:
    if not isinstance(arg, str) or len(arg) > MAX_TEXT:
        raise SearchError("_string needs a text query")
    parts: list[Filter] = []
    for token in arg.split():
        if token in ("AND", "&&"):
            continue
        if token in ("OR", "NOT", "||", "!") or token.startswith(("(", "-", "+")):
            raise SearchError("_string supports field:value terms and words joined by AND")
        budget.spend(depth + 1)
        term = _STRING_TERM.match(token)
        if term:
            stored = _field(term.group(1), fields)
            raw = term.group(2) if term.group(2) is not None else term.group(3)
            if "*" in raw or "?" in raw:
                pattern = {"_field": term.group(1), "_value": raw}
                parts.append(_wildcard(pattern, fields, budget, depth) or Exists(stored))
            else:
                parts.append(Eq(stored, _value(stored, raw)))
        else:
            parts.append(Contains(fields.get("message", "text"), token.strip('"')))
    return And(*parts) if parts else None


_OPERATORS = {
    "_and": _and,
    "_or": _or,
    "_not": _not,
    "_any": _any,
    "_gt": _comparison("_gt"),
    "_gte": _comparison("_gte"),
    "_lt": _comparison("_lt"),
    "_lte": _comparison("_lte"),
    "_between": _between,
    "_in": _in,
    "_like": _like,
    "_strict": _strict,
    "_wildcard": _wildcard,
    "_contains": _contains,
    "_id": _id,
    "_parent": _parent,
    "_child": _child,
    "_string": _string,
}


def parse_range(raw: object, default: str = "0-10") -> tuple[int, int | None]:
    """``"all"`` or ``"from-to"`` (``to`` exclusive) -> (skip, limit)."""
    text = default if raw is None or raw == "" else raw
    if text == "all":
        return 0, None
    match = _RANGE.match(text) if isinstance(text, str) else None
    if not match or int(match.group(2)) < int(match.group(1)):
        raise SearchError(f"invalid range {str(text)[:50]!r}")
    start, end = int(match.group(1)), int(match.group(2))
    return start, min(end - start, MAX_RANGE)


def parse_sort(raw: object, default: tuple[str, ...] = ("-startDate",)) -> list[Sort]:
    """``["+field", "-field"]`` (or one string) -> sorts; ties by id descending."""
    items = default if raw is None or raw == "" or raw == [] else raw
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)) or len(items) > 10:
        raise SearchError("sort must be a list of +field/-field")
    sorts = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise SearchError("sort must be a list of +field/-field")
        descending = item.startswith("-")
        name = item[1:] if item[0] in "+-" else item
        sorts.append(Sort(_field(name, LOG_FIELDS), descending))
    if not any(s.field == "id" for s in sorts):
        sorts.append(Sort("id", True))
    return sorts
