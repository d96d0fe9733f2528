"""Compile typed filters and sorts into MongoDB query documents.

Only the typed nodes of ``casemesh.store.filters`` come in, never client JSON:
field paths have passed ``check_field`` (letters, digits, underscores, dots),
so no ``$`` operator can appear as a key, and values are scalars, so no
operator document can appear as a value. Text for ``Contains`` is escaped
into a literal regular expression.

The semantics follow the SQLite reference adapter (``sqlite_query``):

- ``Eq(f, None)`` matches a missing field or a null, as ``IS NULL`` does;
- ``Range`` without bounds matches a present, non-null field;
- ``Exists`` matches a present field, null included (``json_type`` is
  ``'null'`` there, not SQL NULL);
- ``Has(f, None)`` matches nothing (``json_each.value = NULL`` is never true);
- ``Not`` matches documents where the inner filter is false *or* the field is
  missing, as ``NOT coalesce(…, 0)`` does — which is what ``$nor`` does;
- ``And()`` matches everything, ``Or()`` nothing;
- ``Contains`` on a field with a text index is a case-sensitive regular
  expression of the folded text on the field's folded copy (``_fold.<field>``,
  which the index holds), so it means what it means in SQLite: a substring
  under ``str.casefold``. Without a text index it is a case-insensitive
  regular expression on the field itself, which folds only simple cases
  (``ß`` does not match ``SS``).

The field ``id`` is the document's ``_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casemesh.store.filters import (
    And,
    Contains,
    Eq,
    Exists,
    Filter,
    Has,
    In,
    Not,
    Or,
    Range,
    Sort,
    check_field,
    check_value,
    fold,
)

Query = dict[str, Any]

MATCH_ALL: Query = {}
# ``$or: []`` is refused by MongoDB, so "nothing" is an empty ``$in`` on ``_id``.
MATCH_NOTHING: Query = {"_id": {"$in": []}}

ASCENDING = 1
DESCENDING = -1


def field_name(path: str) -> str:
    """The MongoDB field for a port field path (``id`` is stored as ``_id``)."""
    check_field(path)
    return "_id" if path == "id" else path


def _value(value: object) -> Any:
    # The nodes check their values already; checking again here keeps a node
    # built around its constructor from smuggling an operator document in.
    return check_value(value)


def regex_literal(text: str) -> str:
    """A PCRE (and Python ``re``) pattern matching ``text`` literally.

    Every ASCII character that is not a letter or digit is escaped with a
    backslash (always literal in PCRE); control characters become ``\\xHH``
    because MongoDB refuses a pattern with an embedded NUL. Non-ASCII
    characters are never metacharacters and stay as they are.
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 and not ch.isalnum():
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def compile_filter(node: Filter | None, text_fields: frozenset[str] = frozenset()) -> Query:
    """The MongoDB query document for ``node`` (``None`` matches everything).

    ``text_fields``: the collection's text-indexed fields.
    """
    if node is None:
        return dict(MATCH_ALL)
    return _compile(node, text_fields)


def _compile(node: Filter, text_fields: frozenset[str] = frozenset()) -> Query:
    if isinstance(node, Eq):
        return {field_name(node.field): _value(node.value)}
    if isinstance(node, In):
        return {field_name(node.field): {"$in": [_value(v) for v in node.values]}}
    if isinstance(node, Range):
        bounds = {
            op: _value(bound)
            for op, bound in (
                ("$gt", node.gt),
                ("$gte", node.gte),
                ("$lt", node.lt),
                ("$lte", node.lte),
            )
            if bound is not None
        }
        return {field_name(node.field): bounds or {"$ne": None}}
    if isinstance(node, Contains):
        if not isinstance(node.text, str):
            raise TypeError("Contains.text must be a string")
        if node.field in text_fields:
            return {f"_fold.{check_field(node.field)}": {"$regex": regex_literal(fold(node.text))}}
        return {field_name(node.field): {"$regex": regex_literal(node.text), "$options": "i"}}
    if isinstance(node, Has):
        if node.value is None:
            return dict(MATCH_NOTHING)
        # A scalar operand matches an array holding it (and, like json_each over a
        # scalar in SQLite, a field equal to it).
        return {field_name(node.field): _value(node.value)}
    if isinstance(node, Exists):
        return {field_name(node.field): {"$exists": True}}
    if isinstance(node, And):
        parts = [_compile(p, text_fields) for p in node.parts]
        if any(p == MATCH_NOTHING for p in parts):
            return dict(MATCH_NOTHING)
        parts = [p for p in parts if p != MATCH_ALL]
        return {"$and": parts} if parts else dict(MATCH_ALL)
    if isinstance(node, Or):
        parts = [_compile(p, text_fields) for p in node.parts]
        if any(p == MATCH_ALL for p in parts):
            return dict(MATCH_ALL)
        parts = [p for p in parts if p != MATCH_NOTHING]
        return {"$or": parts} if parts else dict(MATCH_NOTHING)
    if isinstance(node, Not):
        inner = _compile(node.part, text_fields)
        if inner == MATCH_ALL:
            return dict(MATCH_NOTHING)
        if inner == MATCH_NOTHING:
            return dict(MATCH_ALL)
        return {"$nor": [inner]}
    raise TypeError(f"unknown filter node {type(node).__name__}")


def compile_sort(sort: Sequence[Sort]) -> list[tuple[str, int]]:
    """Sort keys for ``find``, ending with ``_id`` so that paging is stable."""
    keys: list[tuple[str, int]] = []
    seen: set[str] = set()
    for s in sort:
        name = field_name(s.field)
        if name in seen:
            continue  # a later key on the same field can never decide anything
        seen.add(name)
        keys.append((name, DESCENDING if s.descending else ASCENDING))
    if "_id" not in seen:
        keys.append(("_id", ASCENDING))
    return keys
