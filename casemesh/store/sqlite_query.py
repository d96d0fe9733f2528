"""Compile typed filters and sorts into SQLite SQL over JSON documents.

Field paths are validated by ``FIELD_PATH`` (letters, digits, underscores,
dots) before they are inlined into ``json_extract``; values are always bound
parameters. Inlining the path (not binding it) lets expression indexes match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
)


def column(field: str) -> str:
    check_field(field)
    if field == "id":
        return "id"
    return f"json_extract(doc, '$.{field}')"


def compile_filter(node: Filter | None) -> tuple[str, list[Any]]:
    if node is None:
        return "1", []
    params: list[Any] = []
    return _compile(node, params), params


def _compile(node: Filter, params: list[Any]) -> str:
    if isinstance(node, Eq):
        if node.value is None:
            return f"{column(node.field)} IS NULL"
        params.append(node.value)
        return f"{column(node.field)} = ?"
    if isinstance(node, In):
        values = [v for v in node.values if v is not None]
        parts = []
        if values:
            params.extend(values)
            parts.append(f"{column(node.field)} IN ({', '.join('?' * len(values))})")
        if len(values) != len(node.values):
            parts.append(f"{column(node.field)} IS NULL")
        return "(" + " OR ".join(parts) + ")" if parts else "0"
    if isinstance(node, Range):
        parts = []
        for op, bound in ((">", node.gt), (">=", node.gte), ("<", node.lt), ("<=", node.lte)):
            if bound is not None:
                params.append(bound)
                parts.append(f"{column(node.field)} {op} ?")
        return "(" + " AND ".join(parts) + ")" if parts else f"{column(node.field)} IS NOT NULL"
    if isinstance(node, Contains):
        params.append(node.text)
        return f"cm_icontains({column(node.field)}, ?)"
    if isinstance(node, Has):
        params.append(node.value)
        return (
            f"EXISTS (SELECT 1 FROM json_each(doc, '$.{check_field(node.field)}') "
            "WHERE json_each.value = ?)"
        )
    if isinstance(node, Exists):
        return f"json_type(doc, '$.{check_field(node.field)}') IS NOT NULL"
    if isinstance(node, And):
        if not node.parts:
            return "1"
        return "(" + " AND ".join(_compile(p, params) for p in node.parts) + ")"
    if isinstance(node, Or):
        if not node.parts:
            return "0"
        return "(" + " OR ".join(_compile(p, params) for p in node.parts) + ")"
    if isinstance(node, Not):
        # NOT over NULL is NULL in SQL; coalesce so "not equal" matches missing fields too.
        return f"NOT coalesce({_compile(node.part, params)}, 0)"
    raise TypeError(f"unknown filter node {type(node).__name__}")


def compile_sort(sort: Sequence[Sort]) -> str:
    terms = [f"{column(s.field)} {'DESC' if s.descending else 'ASC'}" for s in sort]
    if not any(s.field == "id" for s in sort):
        terms.append("id ASC")  # a stable order for paging
    return ", ".join(terms)


def filter_fields(node: Filter | None) -> set[str] | None:
    """The fields ``node`` compiles to ``json_extract`` calls on, or None if it needs more.

    None when a part reads the document some other way (``Has`` walks the
    array with ``json_each``, ``Exists`` asks ``json_type``) or reads ``id``,
    which no expression index holds: then no index can answer it alone.
    """
    if node is None:
        return set()
    if isinstance(node, (Eq, In, Range, Contains)):
        return None if node.field == "id" else {node.field}
    if isinstance(node, (And, Or)):
        fields: set[str] = set()
        for part in node.parts:
            found = filter_fields(part)
            if found is None:
                return None
            fields |= found
        return fields
    if isinstance(node, Not):
        return filter_fields(node.part)
    return None  # Has, Exists


def equality_fields(node: Filter | None) -> set[str]:
    """Fields that ``node`` pins to one non-null value (``Eq`` at its top level)."""
    if isinstance(node, Eq) and node.value is not None:
        return {node.field}
    if isinstance(node, And):
        return set().union(*(equality_fields(part) for part in node.parts))
    return set()


def covering_index(
    where: Filter | None, indexes: Sequence[tuple[str, tuple[str, ...]]]
) -> str | None:
    """An index that can count the rows matching ``where`` without reading documents.

    ``indexes`` are (name, fields) of the table's expression indexes. SQLite
    3.40 evaluates a WHERE term on an indexed expression from the index
    entry, but its planner does not count that as covering, so without a
    hint it may pick an index that reads every matching document. The pick:
    an index holding every field ``where`` reads, seeking on the longest
    prefix of fields pinned by equality — and no shorter than the best prefix
    any other index offers (a selective index that reads a few documents
    beats a covering one that scans many entries); then the narrowest.
    """
    fields = filter_fields(where)
    if not fields:
        return None  # reads nothing an index holds, or needs the documents
    pinned = equality_fields(where)

    def prefix(index_fields: tuple[str, ...]) -> int:
        length = 0
        for field in index_fields:
            if field not in pinned:
                break
            length += 1
        return length

    best_seek = max((prefix(f) for _, f in indexes), default=0)
    candidates = [
        (-prefix(f), len(f), name)
        for name, f in indexes
        if fields <= set(f) and prefix(f) >= best_seek
    ]
    return min(candidates)[2] if candidates else None


@dataclass(frozen=True)
class CountTerm:
    """One count of a sum that gives a filter's count (see ``counting_terms``).

    A ``probe`` counts at most ``cap`` rows (its last parameter, filled in
    when the sum's first term is known): reaching the cap means the shortcut
    would cost more than counting directly.
    """

    sign: int
    sql: str
    params: list[Any]
    probe: bool = False


def counting_terms(
    table: str, where: Filter | None, indexes: Sequence[tuple[str, tuple[str, ...]]]
) -> list[CountTerm] | None:
    """Count ``where`` as a sum of counts that indexes answer cheaply, or None.

    For a filter made of equalities (``Eq``, non-null) and at most one
    negated equality, on fields indexes hold — the shape of a tenant's
    "everything but the deleted ones" — instead of visiting every matching
    index entry:

    - ``count(E and not G) = count(E) - count(E and G)``: rows where G does
      not hold are E's rows minus those where it does (``Not`` keeps rows
      where G's field is missing, and so does the subtraction);
    - for a single equality ``f = v``: ``count(f = v)`` is the table's row
      count (SQLite counts a B-tree's cells without decoding them) minus
      the rows with ``f < v``, ``f > v`` and ``f`` null — SQLite orders all
      values totally, so exactly one of those holds for every other row.
      These three are probes: when they reach a cap the caller counts
      directly instead (the shortcut only pays when ``f = v`` holds for
      most rows, as a workspace does in a store that serves one).

    Every count seeks on an index whose leading fields are the ones it pins.
    """
    parts = list(where.parts) if isinstance(where, And) else [where]
    equal: list[Eq] = []
    negated: list[Eq] = []
    for part in parts:
        if isinstance(part, Not):
            part = part.part
            target = negated
        else:
            target = equal
        if not isinstance(part, Eq) or part.value is None or part.field == "id":
            return None
        target.append(part)
    if not equal or len(negated) > 1 or (len(equal) > 1 and not negated):
        return None  # a plain seek (covering_index) does as well

    def seek(fields: list[str]) -> str | None:
        for name, index_fields in indexes:
            if set(index_fields[: len(fields)]) == set(fields) and len(set(fields)) == len(fields):
                return name
        return None

    terms: list[CountTerm] = []
    if len(equal) == 1:
        field, value = equal[0].field, equal[0].value
        index = seek([field])
        if index is None:
            return None
        terms.append(CountTerm(1, f"SELECT count(*) FROM {table}", []))
        for other in (Range(field, lt=value), Range(field, gt=value), Eq(field, None)):
            clause, params = compile_filter(other)
            sql = (
                f"SELECT count(*) FROM (SELECT 1 FROM {table} INDEXED BY {index} "
                f"WHERE {clause} LIMIT ?)"
            )
            terms.append(CountTerm(-1, sql, params, probe=True))
    else:
        index = seek([e.field for e in equal])
        if index is None:
            return None
        terms.append(CountTerm(1, *count_statement(table, And(*equal), index)))
    for excluded in negated:
        index = seek([e.field for e in (*equal, excluded)])
        if index is None:
            return None
        terms.append(CountTerm(-1, *count_statement(table, And(*equal, excluded), index)))
    return terms


def find_statement(
    table: str,
    where: Filter | None,
    sort: Sequence[Sort] = (),
    skip: int = 0,
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT the SQLite store runs for ``find`` on ``table``, and its parameters."""
    clause, params = compile_filter(where)
    lim = -1 if limit is None else int(limit)
    order = compile_sort(sort)
    sql = f"SELECT id, v, doc FROM {table} WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?"
    return sql, [*params, lim, max(0, int(skip))]


def count_statement(
    table: str, where: Filter | None, index: str | None = None
) -> tuple[str, list[Any]]:
    """The SELECT the SQLite store runs for ``count`` on ``table``, and its parameters.

    ``index`` (see ``covering_index``) makes SQLite count on that index.
    """
    clause, params = compile_filter(where)
    source = f"{table} INDEXED BY {index}" if index else table
    return f"SELECT count(*) FROM {source} WHERE {clause}", params


def icontains(haystack: object, needle: object) -> int:
    """SQLite function: Unicode case-insensitive substring test."""
    if not isinstance(haystack, str) or not isinstance(needle, str):
        return 0
    return int(needle.casefold() in haystack.casefold())
