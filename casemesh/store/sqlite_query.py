"""Compile typed filters and sorts into SQLite SQL over JSON documents.

Field paths are validated by ``FIELD_PATH`` (letters, digits, underscores,
dots) before they are inlined into ``json_extract``; values are always bound
parameters. Inlining the path (not binding it) lets expression indexes match.

A ``Compiler`` compiles for one statement: over the collection's table
(alias ``c``, or none) or over one of its side tables (alias ``s``, see
``sqlite_side``), where a field the side table holds is read from its
column and anything else from the document (``c.doc``, which the statement
then joins). With the collection's side indexes at hand, ``Has`` on an
indexed array probes its side table by document id, and ``Contains`` with
a text index can test membership in its full-text matches; it records what
the SQL will read (``doc``: documents; ``lookups``: other side tables) so
that the planner (``sqlite_plan``) can cost it.
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
    fold,
)
from casemesh.store.sqlite_side import Side

# The trigram tokenizer finds substrings of 3 characters or more.
MIN_TEXT = 3


def column(field: str, alias: str = "") -> str:
    check_field(field)
    prefix = f"{alias}." if alias else ""
    if field == "id":
        return f"{prefix}id"
    return f"json_extract({prefix}doc, '$.{field}')"


def search_text(text: str) -> str | None:
    """The folded text a full-text index can look up, or None if it cannot."""
    folded = fold(text)
    if len(folded) < MIN_TEXT or "\x00" in folded:
        return None
    return folded


def match_expression(groups: Sequence[tuple[Sequence[str], str]]) -> str:
    """An FTS5 query: every (columns, folded text) group as a phrase in those columns."""
    terms = []
    for columns, text in groups:
        phrase = '"' + text.replace('"', '""') + '"'
        terms.append(f"{{{' '.join(columns)}}} : {phrase}")
    return " AND ".join(terms)


class Compiler:
    """Filters to SQL for one statement (see the module docstring)."""

    def __init__(
        self,
        sides: Sequence[Side] = (),
        source: Side | None = None,
        *,
        alias: str = "",
        text_lookups: bool = True,
        pinned: dict[str, Any] | None = None,
    ) -> None:
        self.sides = list(sides)
        self.source = source
        self.alias = "s" if source is not None else alias
        self.doc_alias = "c" if source is not None else alias
        self.text_lookups = text_lookups
        # Fields the statement pins to one value (its top-level equalities): with
        # them, a Has lookup reads the caller's few side entries once (IN) instead
        # of seeking the side table for every row (EXISTS). None: always EXISTS.
        self.pinned = pinned
        self.params: list[Any] = []
        self.doc = False
        self.lookups = False

    # -- fields ------------------------------------------------------------

    def id_sql(self) -> str:
        return f"{self.alias}.id" if self.alias else "id"

    def value(self, field: str) -> str:
        if self.source is not None:
            col = self.source.column(field)
            if col is not None:
                return f"s.{col}"
            if self.source.kind == "counted":
                # A combination of a counted index has no document (nor id) to
                # read: flagged, so that the planner does not use this statement.
                self.doc = True
                return "NULL"
        if field == "id":
            return self.id_sql()
        self.doc = True
        return column(field, self.doc_alias)

    def _side(self, kind: str, field: str) -> Side | None:
        for side in self.sides:
            if kind == "array" and side.kind == "array" and side.array == field:
                return side
            if kind == "text" and side.kind == "text" and field in side.text:
                return side
        return None

    # -- nodes -------------------------------------------------------------

    def compile(self, node: Filter | None) -> str:
        return "1" if node is None else self._node(node)

    def _node(self, node: Filter) -> str:
        if isinstance(node, Eq):
            if node.value is None:
                return f"{self.value(node.field)} IS NULL"
            self.params.append(node.value)
            return f"{self.value(node.field)} = ?"
        if isinstance(node, In):
            values = [v for v in node.values if v is not None]
            parts = []
            if values:
                target = self.value(node.field)
                self.params.extend(values)
                parts.append(f"{target} IN ({', '.join('?' * len(values))})")
            if len(values) != len(node.values):
                parts.append(f"{self.value(node.field)} IS NULL")
            return "(" + " OR ".join(parts) + ")" if parts else "0"
        if isinstance(node, Range):
            parts = []
            for op, bound in ((">", node.gt), (">=", node.gte), ("<", node.lt), ("<=", node.lte)):
                if bound is not None:
                    parts.append(f"{self.value(node.field)} {op} ?")
                    self.params.append(bound)
            if not parts:
                return f"{self.value(node.field)} IS NOT NULL"
            return "(" + " AND ".join(parts) + ")"
        if isinstance(node, Contains):
            return self._contains(node)
        if isinstance(node, Has):
            return self._has(node)
        if isinstance(node, Exists):
            self.doc = True
            prefix = f"{self.doc_alias}." if self.doc_alias else ""
            return f"json_type({prefix}doc, '$.{check_field(node.field)}') IS NOT NULL"
        if isinstance(node, (And, Or)):
            if not node.parts:
                return "1" if isinstance(node, And) else "0"
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self._cheapest_first(node.parts)) + ")"
        if isinstance(node, Not):
            # NOT over NULL is NULL in SQL; coalesce so "not equal" matches missing fields too.
            return f"NOT coalesce({self._node(node.part)}, 0)"
        raise TypeError(f"unknown filter node {type(node).__name__}")

    def _cheapest_first(self, parts: Sequence[Filter]) -> list[str]:
        """Compile ``parts`` and order them so that SQLite tests the cheap ones first."""
        compiled = []
        for part in parts:
            sub = self._child()
            sql = sub._node(part)
            cost = 2 if sub.doc else 1 if sub.lookups else 0
            compiled.append((cost, sql, sub))
        ordered = sorted(compiled, key=lambda item: item[0])
        for _, _, sub in ordered:
            self.params.extend(sub.params)
            self.doc |= sub.doc
            self.lookups |= sub.lookups
        return [sql for _, sql, _ in ordered]

    def _child(self) -> Compiler:
        alias = "" if self.source is not None else self.alias
        return Compiler(
            self.sides,
            self.source,
            alias=alias,
            text_lookups=self.text_lookups,
            pinned=self.pinned,
        )

    def _contains(self, node: Contains) -> str:
        text = search_text(node.text)
        side = self._side("text", node.field) if self.text_lookups and text else None
        own = self.source is not None and node.field in self.source.text
        if own and text:
            side = self.source
        if side is None or text is None:
            self.params.append(node.text)
            return f"cm_icontains({self.value(node.field)}, ?)"
        self.lookups = True
        self.params.append(match_expression([([side.text_column(node.field) or ""], text)]))
        fts = side.fts
        if side is self.source:
            return f"s.n IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"
        return (
            f"{self.id_sql()} IN (SELECT x.id FROM {fts} CROSS JOIN {side.name} AS x "
            f"ON x.n = {fts}.rowid WHERE {fts} MATCH ?)"
        )

    def _has(self, node: Has) -> str:
        side = self._side("array", node.field)
        if node.value is None:
            return "0"  # json_each.value = NULL is never true
        self.params.append(node.value)
        held = self.source.column(node.field) if self.source is not None else None
        if held is not None and (side is None or side is not self.source):
            # The side table holds the field as json_extract gives it: an array or
            # object as its JSON text (so a string field holding such text reads as
            # that array here), anything else as the value, which Has compares.
            col = f"s.{held}"
            self.params.append(node.value)
            exact = (
                f"CASE WHEN (CASE WHEN json_valid({col}) THEN json_type({col}) END) "
                "IN ('array', 'object') "
                f"THEN EXISTS (SELECT 1 FROM json_each({col}) WHERE json_each.value = ?) "
                f"ELSE {col} = ? END"
            )
            if not isinstance(node.value, str):
                return f"({exact})"
            # A text element is in the JSON as its quoted form: rows without it are
            # settled by one substring test instead of parsing the JSON.
            self.params.extend([node.value, node.value])  # every ? here is the value
            return f"(CASE WHEN instr({col}, json_quote(?)) = 0 THEN {col} = ? ELSE {exact} END)"
        if side is None:
            self.doc = True
            prefix = f"{self.doc_alias}." if self.doc_alias else ""
            return (
                f"EXISTS (SELECT 1 FROM json_each({prefix}doc, '$.{check_field(node.field)}') "
                "WHERE json_each.value = ?)"
            )
        self.lookups = True
        leading = side.fields[: side.fields.index(side.array)]
        if self.pinned is not None and all(f in self.pinned for f in leading):
            self.params.pop()
            seek = [f"m.{side.column(f)} = ?" for f in leading]
            self.params.extend([*(self.pinned[f] for f in leading), node.value])
            return (
                f"{self.id_sql()} IN (SELECT m.id FROM {side.name} AS m "
                f"WHERE {' AND '.join([*seek, f'm.{side.element} = ?'])})"
            )
        return (
            f"EXISTS (SELECT 1 FROM {side.name} AS m WHERE m.id = {self.id_sql()} "
            f"AND m.{side.element} = ?)"
        )


def compile_filter(node: Filter | None) -> tuple[str, list[Any]]:
    """``node`` as a WHERE clause on the collection's table alone, and its parameters."""
    compiler = Compiler()
    return compiler.compile(node), compiler.params


def distinct_sort(sort: Sequence[Sort]) -> list[Sort]:
    """``sort`` without later keys on a field already sorted on (they never decide anything)."""
    seen: set[str] = set()
    return [s for s in sort if not (s.field in seen or seen.add(s.field))]


def compile_sort(sort: Sequence[Sort], alias: str = "") -> str:
    sort = distinct_sort(sort)
    terms = [f"{column(s.field, alias)} {'DESC' if s.descending else 'ASC'}" for s in sort]
    if not any(s.field == "id" for s in sort):
        terms.append(f"{column('id', alias)} ASC")  # a stable order for paging
    return ", ".join(terms)


def find_statement(
    table: str,
    where: Filter | None,
    sort: Sequence[Sort] = (),
    skip: int = 0,
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT for ``find`` on ``table`` by its own indexes, and its parameters."""
    clause, params = compile_filter(where)
    lim = -1 if limit is None else int(limit)
    order = compile_sort(sort)
    sql = f"SELECT id, v, doc FROM {table} WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?"
    return sql, [*params, lim, max(0, int(skip))]


def count_statement(
    table: str, where: Filter | None, index: str | None = None
) -> tuple[str, list[Any]]:
    """A count of ``where`` on ``table``; ``index`` (see ``covering_index``) names its index."""
    clause, params = compile_filter(where)
    source = f"{table} INDEXED BY {index}" if index else table
    return f"SELECT count(*) FROM {source} WHERE {clause}", params


def icontains(haystack: object, needle: object) -> int:
    """SQLite function: Unicode case-insensitive substring test."""
    if not isinstance(haystack, str) or not isinstance(needle, str):
        return 0
    return int(fold(needle) in fold(haystack))
