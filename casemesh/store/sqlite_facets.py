"""Filters on a text index's facets as full-text phrases (the SQLite store).

A text index with ``facets`` numbers each value its facets hold and indexes
a document's codes in the FTS table's column ``k`` (see ``sqlite_side``), so
that a filter on them can be matched by FTS5 together with the search text
instead of reading every match's side row. The phrases:

- ``Eq(f, v)``: the code of the scalar value ``v`` (NULL for ``None``: a
  missing field too). A text ``v`` that starts like a JSON array or object
  could equal such a value's JSON text, which has no code: left to the
  side table;
- ``In``: any of its values' codes; ``Has(f, v)``: ``v`` as the scalar
  value or as an element (what ``json_each`` over the field gives);
- ``Or`` and ``And`` of those; at the top level, ``Not`` of one of them is
  an FTS ``NOT``.

A value no document ever held has no code: its phrase is a token that
matches nothing. An ``Eq`` that every document satisfies — the only value
its facet ever held — is left out (a store serving one workspace does not
make FTS5 intersect the search with a list of every document).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from casemesh.store.filters import And, Eq, Filter, Has, In, Not, Or, Scalar
from casemesh.store.sqlite_side import Side, facet_token

SCALAR, ELEMENT, EMPTY = 0, 1, 2  # f = 3 * facet position + these
NOTHING = f'k : "{facet_token(0)}"'


class FacetMatcher:
    """Turns filter parts into FTS5 terms on the column ``k`` of one text index."""

    def __init__(self, conn: sqlite3.Connection, side: Side) -> None:
        self.conn = conn
        self.side = side

    def _code(self, f: int, value: Scalar) -> int | None:
        row = self.conn.execute(
            f"SELECT code FROM {self.side.codes} WHERE f = ? AND v IS ?", (f, value)
        ).fetchone()
        return None if row is None else int(row[0])

    def _position(self, field: str) -> int | None:
        return self.side.facets.index(field) if field in self.side.facets else None

    def _phrase(self, codes: Sequence[int | None]) -> str:
        found = sorted({c for c in codes if c is not None})
        if not found:
            return NOTHING
        terms = [f'k : "{facet_token(c)}"' for c in found]
        return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"

    def _equal_codes(self, position: int, values: Sequence[Scalar]) -> list[int | None] | None:
        codes: list[int | None] = []
        for value in values:
            if isinstance(value, str) and value[:1] in ("[", "{"):
                return None  # could be an array's or object's JSON text, which has no code
            codes.append(self._code(3 * position + SCALAR, value))
        return codes

    def positive(self, node: Filter) -> str | None:
        """The FTS term for ``node``, or None if the facets cannot answer it alone."""
        if isinstance(node, (Eq, In, Has)):
            position = self._position(node.field)
            if position is None:
                return None
            if isinstance(node, Has):
                if node.value is None:
                    return NOTHING  # json_each.value = NULL is never true
                base = 3 * position
                return self._phrase(
                    [self._code(base + SCALAR, node.value), self._code(base + ELEMENT, node.value)]
                )
            values = (node.value,) if isinstance(node, Eq) else node.values
            codes = self._equal_codes(position, values)
            return None if codes is None else self._phrase(codes)
        if isinstance(node, (And, Or)) and node.parts:
            terms = [self.positive(p) for p in node.parts]
            if any(t is None for t in terms):
                return None
            return "(" + (" AND " if isinstance(node, And) else " OR ").join(terms) + ")"  # type: ignore[arg-type]
        if isinstance(node, Or):
            return NOTHING
        return None

    def _implied(self, node: Filter) -> bool:
        """Whether every document satisfies ``node``: the only value its facet ever held."""
        if not isinstance(node, Eq):
            return False
        position = self._position(node.field)
        if position is None:
            return False
        rows = self.conn.execute(
            f"SELECT f, v FROM {self.side.codes} WHERE f BETWEEN ? AND ? LIMIT 2",
            (3 * position, 3 * position + EMPTY),
        ).fetchall()
        if len(rows) != 1 or rows[0][0] != 3 * position + SCALAR:
            return False
        same = self.conn.execute("SELECT ? IS ?", (rows[0][1], node.value)).fetchone()[0]
        return bool(same)

    def split(self, parts: Sequence[Filter]) -> tuple[list[str], list[str], list[Filter]]:
        """(terms every match has, terms no match has, parts the facets leave to the side table)."""
        terms: list[str] = []
        negated: list[str] = []
        rest: list[Filter] = []
        for part in parts:
            inner = part.part if isinstance(part, Not) else None
            term = self.positive(inner if inner is not None else part)
            if term is None:
                rest.append(part)
            elif inner is None:
                if not self._implied(part):
                    terms.append(term)
            elif term != NOTHING:  # not matching what nothing holds: no condition
                negated.append(term)
        return terms, negated, rest


def combine(text: str, terms: Sequence[str], negated: Sequence[str]) -> str:
    """One FTS5 expression: the text match and every term, less every negated one."""
    expression = " AND ".join(f"({t})" for t in (text, *terms))
    for term in negated:
        expression = f"({expression}) NOT ({term})"
    return expression
