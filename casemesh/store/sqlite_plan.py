"""How the SQLite store answers ``count`` and ``find``: which index drives each query.

A collection's table has expression indexes (``Index`` of the plain kind)
and side tables (multikey and text, ``sqlite_side``). SQLite's planner
knows neither how selective a full-text match is nor that a side table can
count without reading documents, so the store decides:

- ``count``: the filter is split into its top-level parts, and each way of
  counting it is costed by what it reads — the numbers a counted index
  keeps per combination of values (-1), only index entries (0), index
  entries plus a probe of another side table per row (1), or documents
  (2). The ways: one sum on a counted index's table (every part reads only
  its fields; with an array, one ``Has`` pins the element), one statement
  on a text side table (its full-text match drives), on a multikey side
  table (a ``Has`` whose leading fields are pinned drives), or on the
  collection's table (``sqlite_counting``); and, for a filter with an
  ``Or`` that none of these answers from counts, a sum over its branches,
  each branch excluding the ones before it
  (``count(R and (X or Y)) = count(R and X) + count(R and Y and not X)``),
  trying the branches in every order (up to three). The cheapest wins.
- ``find``: when a text match or a pinned ``Has`` has few rows (a capped
  probe counts them), those rows drive: their documents are read, filtered
  and sorted. Otherwise the query walks the sort's index as before and
  tests each row (the page stops after ``limit`` rows), which is cheap when
  many rows match. The cap balances the two: reading ``n`` candidates
  against walking about ``(skip + limit) * rows / n`` rows.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from casemesh.store.filters import And, Contains, Eq, Filter, Has, Not, Or, Sort
from casemesh.store.sqlite_counting import (
    IndexFields,
    count_main,
    counting_terms,
    covering_index,
    equality_fields,
    read_indexes,
)
from casemesh.store.sqlite_facets import FacetMatcher, combine
from casemesh.store.sqlite_query import (
    Compiler,
    compile_sort,
    distinct_sort,
    match_expression,
    search_text,
)
from casemesh.store.sqlite_side import Side, read_sides

Statement = tuple[str, list[Any]]

# find: what reading one candidate costs, in rows walked along the sort's index
# (a walked row reads its document): a side-table row when the side table also
# sorts the candidates, else a document read and a sort.
CANDIDATE_COST_SORTED = 0.3
CANDIDATE_COST = 1.2
MIN_DRIVE_CAP = 1000
MAX_SPLIT_BRANCHES = 3
# count: the cost of a sum over a counted index's combinations (see the docstring).
COUNTS = -1


@dataclass
class Schema:
    """What the planner knows of a collection's table."""

    plain: IndexFields = field(default_factory=list)
    sides: list[Side] = field(default_factory=list)

    def ordered_sides(self) -> list[Side]:
        """Text indexes first (the most selective in practice), then multikey ones."""
        return sorted(self.sides, key=lambda s: (s.kind != "text", s.name))


def read_schema(conn: sqlite3.Connection, table: str) -> Schema:
    return Schema(read_indexes(conn, table), read_sides(conn, table))


def _parts(where: Filter | None) -> list[Filter]:
    if where is None:
        return []
    if isinstance(where, And):
        return [p for part in where.parts for p in _parts(part)]
    return [where]


# -- drivers -----------------------------------------------------------------------------


@dataclass
class _Driven:
    """A query over a side table: what drives it, and the rest of the filter."""

    side: Side
    source_sql: str  # FROM … WHERE <driver>, without the residual
    params: list[Any]
    rest: list[Filter]
    # Rows of the driver alone (an upper bound of the candidates), cheap to count.
    probe_sql: str = ""
    probe_params: list[Any] = field(default_factory=list)


def _text_group(part: Filter, side: Side) -> tuple[list[str], str] | None:
    """(columns, folded text) if ``part`` is a search the text index ``side`` answers."""
    options = part.parts if isinstance(part, Or) else (part,)
    if not options or not all(isinstance(p, Contains) for p in options):
        return None
    texts = {search_text(p.text) for p in options}  # type: ignore[union-attr]
    columns = [side.text_column(p.field) for p in options]  # type: ignore[union-attr]
    if len(texts) != 1 or None in texts or None in columns:
        return None
    return [c for c in columns if c], next(iter(texts))  # type: ignore[return-value]


def _driven(conn: sqlite3.Connection, side: Side, parts: list[Filter]) -> _Driven | None:
    if side.kind == "counted":
        return None  # counts only (_counted)
    fts = side.fts
    if side.kind == "text":
        groups, rest = [], []
        for part in parts:
            group = _text_group(part, side)
            (groups if group else rest).append(group or part)
        if not groups:
            return None
        expression = match_expression(groups)
        if side.facets:  # the parts the facets answer join the text match
            terms, negated, rest = FacetMatcher(conn, side).split(rest)
            expression = combine(expression, terms, negated)
        source = f"{fts} CROSS JOIN {side.name} AS s ON s.n = {fts}.rowid WHERE {fts} MATCH ?"
        probe = f"SELECT rowid FROM {fts} WHERE {fts} MATCH ?"
        return _Driven(side, source, [expression], rest, probe, [expression])
    pinned = equality_fields(And(*parts))
    leading = side.fields[: side.fields.index(side.array)]
    if not set(leading) <= pinned:
        return None
    values = _pinned(parts)
    for n, part in enumerate(parts):
        if isinstance(part, Has) and part.field == side.array and part.value is not None:
            source = f"{side.name} AS s WHERE s.{side.element} = ?"
            seek = [f"s.{side.column(f)} = ?" for f in leading] + [f"s.{side.element} = ?"]
            probe = f"SELECT 1 FROM {side.name} AS s WHERE {' AND '.join(seek)}"
            probe_params = [*(values[f] for f in leading), part.value]
            rest = parts[:n] + parts[n + 1 :]
            return _Driven(side, source, [part.value], rest, probe, probe_params)
    return None


def _pinned(parts: list[Filter]) -> dict[str, Any]:
    return {p.field: p.value for p in parts if isinstance(p, Eq) and p.value is not None}


def _residual(schema: Schema, driven: _Driven, parts: list[Filter]) -> tuple[int, str, list]:
    compiler = Compiler(schema.sides, driven.side, pinned=_pinned(parts))
    sql = compiler.compile(And(*parts)) if parts else "1"
    cost = 2 if compiler.doc else 1 if compiler.lookups else 0
    return cost, sql, compiler.params


# -- count -------------------------------------------------------------------------------


@dataclass
class _Step:
    cost: int
    where: Filter | None  # counted on the collection's table (sql is None)…
    sql: str | None = None  # …or this count statement on a side table
    params: list[Any] = field(default_factory=list)
    driven: _Driven | None = None


def _side_count(table: str, schema: Schema, driven: _Driven) -> _Step:
    if driven.side.kind == "text" and not driven.rest:  # the full-text match is the filter
        fts = driven.side.fts
        sql = f"SELECT count(*) FROM {fts} WHERE {fts} MATCH ?"
        return _Step(0, None, sql, list(driven.params), driven)
    cost, residual, params = _residual(schema, driven, driven.rest)
    join = f" CROSS JOIN {table} AS c ON c.id = s.id" if cost == 2 else ""
    source = driven.source_sql
    head, _, tail = source.partition(" WHERE ")
    sql = f"SELECT count(*) FROM {head}{join} WHERE {tail} AND {residual}"
    return _Step(cost, None, sql, [*driven.params, *params], driven)


def _counted(side: Side, parts: list[Filter]) -> _Step | None:
    """The count as a sum over the counted index ``side``, if it holds every field read."""
    rest, pin, pinned = list(parts), "1", []
    if side.array:
        for n, part in enumerate(parts):
            if isinstance(part, Has) and part.field == side.array and part.value is not None:
                rest = parts[:n] + parts[n + 1 :]
                pin, pinned = f"s.{side.element} = ?", [part.value]
                break
        else:
            return None  # without one element pinned, a document would count once per element
    compiler = Compiler((), side, text_lookups=False)
    residual = compiler.compile(And(*rest)) if rest else "1"
    if compiler.doc or compiler.lookups:
        return None
    sql = f"SELECT coalesce(sum(s.n), 0) FROM {side.name} AS s WHERE {pin} AND {residual}"
    return _Step(COUNTS, None, sql, [*pinned, *compiler.params])


def _main_cost(where: Filter, schema: Schema, table: str) -> int:
    if counting_terms(table, where, schema.plain) is not None:
        return 0
    return 0 if covering_index(where, schema.plain) is not None else 2


def _plan(
    conn: sqlite3.Connection, table: str, schema: Schema, parts: list[Filter], depth: int = 0
) -> list[_Step]:
    where = And(*parts)
    options: list[list[_Step]] = []
    for side in schema.ordered_sides():
        if side.kind == "counted":
            summed = _counted(side, parts)
            options += [[summed]] if summed is not None else []
            continue
        driven = _driven(conn, side, parts)
        if driven is not None:
            options.append([_side_count(table, schema, driven)])
    options.append([_Step(_main_cost(where, schema, table), where)])

    def score(steps: list[_Step]) -> tuple[int, int]:
        return max(s.cost for s in steps), len(steps)

    best = min(options, key=score)
    if score(best)[0] <= 0 or depth >= 2:
        return best
    for n, part in enumerate(parts):
        if isinstance(part, Or) and 2 <= len(part.parts) <= MAX_SPLIT_BRANCHES:
            rest = parts[:n] + parts[n + 1 :]
            for order in itertools.permutations(part.parts):
                steps: list[_Step] = []
                for k, branch in enumerate(order):
                    term = [*rest, branch, *(Not(b) for b in order[:k])]
                    steps += _plan(conn, table, schema, term, depth + 1)
                if score(steps) < score(best):
                    best = steps
            break
    return best


def _uses_sides(where: Filter | None) -> bool:
    """Whether ``where`` has a node a side index answers (else the plain plan is the plan)."""
    if isinstance(where, (Has, Contains)):
        return True
    if isinstance(where, (And, Or)):
        return any(_uses_sides(p) for p in where.parts)
    if isinstance(where, Not):
        return _uses_sides(where.part)
    return False


def count_rows(
    conn: sqlite3.Connection, table: str, where: Filter | None, schema: Schema
) -> tuple[int, list[Statement]]:
    """How many rows of ``table`` match ``where``, and the statements that counted them."""
    counted = any(side.kind == "counted" for side in schema.sides)
    if not counted and (not schema.sides or not _uses_sides(where)):
        return count_main(conn, table, where, schema.plain)
    total, ran = 0, []
    for step in _plan(conn, table, schema, _parts(where)):
        if step.sql is None:
            found, statements = count_main(conn, table, step.where, schema.plain)
        else:
            statements = [(step.sql, step.params)]
            found = int(conn.execute(step.sql, step.params).fetchone()[0])
        total += found
        ran += statements
    return total, ran


# -- count and page together ---------------------------------------------------------------


def page_rows(
    conn: sqlite3.Connection,
    table: str,
    where: Filter | None,
    schema: Schema,
    sort: Sequence[Sort],
    skip: int,
    limit: int,
    hint: int | None = None,
) -> tuple[int, list[tuple[str, int, str]], list[Statement]] | None:
    """The count and a page in one pass, when one side table answers both; else None.

    That is when the count is one statement on a text index's table that
    needs no document and that table holds every sort field: the statement then
    also sorts the rows it counts (``count(*) OVER ()``) and keeps a page, so
    a search reads its candidates once, not once to count and again to page.
    When the full-text match is the whole filter (facets), its count reads no
    side row and, knowing it, a page of many matches walks the sort's index
    instead: one pass then only when ``hint`` (what a recent count of the
    same filter found) says the matches are few enough to drive the page.
    """
    if not schema.sides or limit < 0:
        return None
    steps = _plan(conn, table, schema, _parts(where))
    if len(steps) != 1 or steps[0].driven is None or steps[0].cost == 2:
        return None
    driven = steps[0].driven
    order = _side_order(driven.side, sort)
    if order is None or driven.side.kind != "text":
        # A multikey count reads only index entries, while a page over it would
        # sort them all; walking the sort's index finds a page sooner.
        return None
    if not driven.rest and (
        hint is None or hint >= _drive_cap(conn, table, skip + limit, CANDIDATE_COST_SORTED, hint)
    ):
        return None
    _, residual, params = _residual(schema, driven, driven.rest)
    ids = (
        f"SELECT s.id, count(*) OVER () AS total FROM {driven.source_sql} AND {residual} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )
    sql = (
        f"SELECT c.id, c.v, c.doc, d.total FROM ({ids}) AS d "
        f"CROSS JOIN {table} AS c ON c.id = d.id ORDER BY {compile_sort(sort, 'c')}"
    )
    statement = (sql, [*driven.params, *params, int(limit), max(0, int(skip))])
    rows = conn.execute(*statement).fetchall()
    if not rows:
        return None  # past the last row (or none): the total needs its own count
    return int(rows[0][3]), [r[:3] for r in rows], [statement]


# -- find --------------------------------------------------------------------------------


def _drive_cap(
    conn: sqlite3.Connection,
    table: str,
    want: int,
    candidate_cost: float,
    total: int | None,
) -> int:
    """Drive from a side table when it has fewer candidates than this.

    Walking the sort's index reads about ``want * rows / matches`` rows before
    it has a page; driving reads every candidate. ``total`` (the matches, if a
    count just gave them) makes the walk's estimate exact; without it the
    candidates stand in for the matches.
    """
    rows = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    if total is not None:
        cap = want * rows / (max(total, 1) * candidate_cost)
    else:
        cap = math.sqrt(want * rows / candidate_cost)
    return max(MIN_DRIVE_CAP, int(min(cap, 2**62)))


def _side_order(side: Side, sort: Sequence[Sort]) -> str | None:
    """``sort`` on the side table's columns, if it holds every sort field."""
    terms = []
    for s in distinct_sort(sort):
        col = side.column(s.field)
        if col is None:
            return None
        terms.append(f"s.{col} {'DESC' if s.descending else 'ASC'}")
    if not any(s.field == "id" for s in sort):
        terms.append("s.id ASC")
    return ", ".join(terms)


def find_rows(
    conn: sqlite3.Connection,
    table: str,
    where: Filter | None,
    schema: Schema,
    sort: Sequence[Sort] = (),
    skip: int = 0,
    limit: int | None = None,
    total: int | None = None,
) -> tuple[list[tuple[str, int, str]], list[Statement]]:
    """The rows ``find`` returns (id, version, JSON), and the statements that found them.

    ``total``: how many rows match ``where``, if known (a hint for the plan only).
    """
    skip = max(0, int(skip))
    lim = -1 if limit is None else int(limit)
    parts = _parts(where)
    ran: list[Statement] = []
    drivable = any(isinstance(p, (Has, Contains, Or)) for p in parts)
    for side in schema.ordered_sides() if drivable else ():
        driven = _driven(conn, side, parts)
        if driven is None:
            continue
        cost, residual, params = _residual(schema, driven, driven.rest)
        ids = f"SELECT s.id FROM {driven.source_sql}"
        ids_params = list(driven.params)
        page = [lim, skip]
        order = _side_order(side, sort) if cost < 2 else None
        if cost < 2:  # the residual needs no document: it narrows the candidates
            ids += f" AND {residual}"
            ids_params += params
        if order is not None:  # …and the side table sorts them: only a page is read
            ids += f" ORDER BY {order} LIMIT ? OFFSET ?"
            ids_params += page
            page = [-1, 0]
        if limit is not None and limit >= 0:  # else everything is wanted: always drive
            each = CANDIDATE_COST_SORTED if order is not None else CANDIDATE_COST
            cap = _drive_cap(conn, table, skip + limit, each, total)
            if total is not None and side.kind == "text" and not driven.rest:
                candidates = total  # the full-text match is the filter: the count said it
            else:
                probe = f"SELECT count(*) FROM ({driven.probe_sql} LIMIT ?)"
                ran.append((probe, [*driven.probe_params, cap]))
                candidates = conn.execute(probe, [*driven.probe_params, cap]).fetchone()[0]
            if candidates >= cap:
                continue  # too many: walking the sort's index finds a page sooner
        rest = Compiler(schema.sides, alias="c", text_lookups=False)
        clause = rest.compile(And(*driven.rest)) if cost == 2 else "1"
        sql = (
            f"SELECT c.id, c.v, c.doc FROM ({ids}) AS d CROSS JOIN {table} AS c ON c.id = d.id "
            f"WHERE {clause} ORDER BY {compile_sort(sort, 'c')} LIMIT ? OFFSET ?"
        )
        statement = (sql, [*ids_params, *rest.params, *page])
        ran.append(statement)
        return conn.execute(*statement).fetchall(), ran
    walk = Compiler(schema.sides, alias="c", text_lookups=False)
    clause = walk.compile(where)
    sql = (
        f"SELECT c.id, c.v, c.doc FROM {table} AS c WHERE {clause} "
        f"ORDER BY {compile_sort(sort, 'c')} LIMIT ? OFFSET ?"
    )
    statement = (sql, [*walk.params, lim, skip])
    ran.append(statement)
    return conn.execute(*statement).fetchall(), ran


class CountHints:
    """What recent counts found, by (table, filter): a planning hint for ``find``, never an answer.

    A list asks for the count and then for the page of the same filter; the
    count tells the page's plan how many rows match. A stale or missing hint
    only makes the plan guess, so entries simply expire.
    """

    def __init__(self, size: int = 256, seconds: float = 10.0) -> None:
        self._size = size
        self._seconds = seconds
        self._found: OrderedDict[tuple[str, Filter | None], tuple[float, int]] = OrderedDict()

    def put(self, table: str, where: Filter | None, total: int) -> None:
        key = (table, where)
        self._found[key] = (time.monotonic(), total)
        self._found.move_to_end(key)
        while len(self._found) > self._size:
            self._found.popitem(last=False)

    def get(self, table: str, where: Filter | None) -> int | None:
        hint = self._found.get((table, where))
        if hint is None or time.monotonic() - hint[0] > self._seconds:
            return None
        return hint[1]
