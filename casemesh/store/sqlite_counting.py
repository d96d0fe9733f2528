"""Exact row counts for the SQLite store, answered from its expression indexes.

Counting every document that matches a list filter is what made case lists
slow; these helpers pick the cheapest exact way the table's indexes allow.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from casemesh.store.filters import Filter
from casemesh.store.sqlite_query import column, count_statement, counting_terms, covering_index

IndexFields = list[tuple[str, tuple[str, ...]]]

# count_rows: a complement probe gives up past this share of the table's rows.
PROBE_FRACTION = 8
PROBE_MIN_ROWS = 1000


def read_indexes(conn: sqlite3.Connection, table: str) -> IndexFields:
    """(name, fields) of the indexes ``ensure_indexes`` made on ``table``."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    return [found for name, sql in rows if (found := _index_fields(name, sql))]


def count_rows(
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
