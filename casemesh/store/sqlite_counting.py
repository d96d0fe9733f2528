"""Exact row counts for the SQLite store, answered from its expression indexes.

Counting every document that matches a list filter is what made case lists
slow; these helpers pick the cheapest exact way the table's indexes allow
(``sqlite_plan`` adds the side indexes: multikey and text).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from casemesh.store.filters import And, Contains, Eq, Filter, In, Not, Or, Range
from casemesh.store.sqlite_query import column, compile_filter, count_statement

IndexFields = list[tuple[str, tuple[str, ...]]]

# count_rows: a complement probe gives up past this share of the table's rows.
PROBE_FRACTION = 8
PROBE_MIN_ROWS = 1000


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


def read_indexes(conn: sqlite3.Connection, table: str) -> IndexFields:
    """(name, fields) of the indexes ``ensure_indexes`` made on ``table``."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    return [found for name, sql in rows if (found := _index_fields(name, sql))]


def count_main(
    conn: sqlite3.Connection, table: str, where: Filter | None, indexes: IndexFields
) -> tuple[int, list[tuple[str, list[Any]]]]:
    """How many rows of ``table`` match ``where``, and the statements that counted them.

    The cheapest exact way the indexes allow: a sum of index counts
    (``counting_terms``), else one count on an index that holds every field
    the filter reads (``covering_index``), else SQLite's own plan.
    """
    ran: list[tuple[str, list[Any]]] = []
    terms = counting_terms(table, where, indexes)
    if terms is not None:
        total, whole = 0, 0
        for number, term in enumerate(terms):
            params = term.params
            cap = max(PROBE_MIN_ROWS, whole // PROBE_FRACTION)
            if term.probe:
                params = [*params, cap]
            ran.append((term.sql, params))
            found = int(conn.execute(term.sql, params).fetchone()[0])
            if term.probe and found >= cap:
                break  # the shortcut would cost more than counting directly
            if number == 0:
                whole = found
            total += term.sign * found
        else:
            return total, ran
    sql, params = count_statement(table, where, covering_index(where, indexes))
    ran.append((sql, params))
    return int(conn.execute(sql, params).fetchone()[0]), ran


_INDEX_COLUMN = re.compile(r"json_extract\(doc, '\$\.([A-Za-z0-9_.]+)'\)|\bid\b")


def _index_fields(name: str, sql: str) -> tuple[str, tuple[str, ...]] | None:
    """(name, fields) of an index this store created (``ensure_indexes``), else None."""
    opening = sql.find("(")
    if opening < 0 or not sql.endswith(")"):
        return None
    columns = sql[opening + 1 : -1]
    fields = tuple(m.group(1) or "id" for m in _INDEX_COLUMN.finditer(columns))
    try:
        if not fields or ", ".join(column(f) for f in fields) != columns:
            return None
    except ValueError:
        return None
    return name, fields
