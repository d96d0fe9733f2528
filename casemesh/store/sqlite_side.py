"""Multikey and text indexes of the SQLite store: side tables that triggers keep.

SQLite indexes hold one entry per row, so an index on an array field or a
substring search cannot be an ordinary index on ``json_extract(doc, …)``.
Each such ``Index`` of the port gets a side table, written by triggers on
the collection's table in the same statement as the document (so every
writer — a transaction, ``insert_many``, a plain ``sqlite3`` session —
keeps it exact, and a rollback undoes it with the rest):

- multikey (``Index(fields, array=f)``): ``s_<collection>_<index>(id, f0…fn)``,
  one row per distinct non-null element of ``f`` (its column holds the
  element, the others the document's fields), ``WITHOUT ROWID`` with the key
  ``(id, element)`` and an index on ``(f0…fn)``: a ``Has`` with the leading
  fields pinned is a seek, and counts over it never read a document;
- text (``Index(fields, text=(…))``): ``s_<collection>_<index>(n, id, t0…,
  f0…)`` with the text fields folded (``cm_fold`` = ``str.casefold``) and the
  other fields as they are, plus an FTS5 table over ``t0…`` with the
  ``trigram`` tokenizer (``case_sensitive 1``: the text is folded already)
  whose content is that table. A phrase of the folded search text (3
  characters or more) matches exactly the rows where it is a substring.

Side rows point at documents by ``id``, never by ``rowid``: ``VACUUM`` may
renumber the rowids of a table without an INTEGER PRIMARY KEY. The text
table's own ``n`` is one, so its FTS rows stay attached to it.

The triggers call ``cm_fold``, which the store registers on its connections;
a connection without it cannot write to a collection with a text index
(it fails loudly, it does not skip the index). ``_indexes`` records each
side index (``tbl``, ``name``, ``spec`` as JSON) for the query planner.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from casemesh.store.filters import check_field
from casemesh.store.port import Index, StoreError

REGISTRY = "_indexes"


def fold_or_null(value: object) -> str | None:
    """SQLite function ``cm_fold``: the folded text of a string, NULL for anything else."""
    return value.casefold() if isinstance(value, str) else None


def _path(field: str) -> str:
    return f"'$.{check_field(field)}'"


@dataclass(frozen=True)
class Side:
    """A multikey or text index of ``table`` as the query planner sees it."""

    table: str
    name: str  # the side table
    kind: str  # "array" or "text"
    fields: tuple[str, ...]
    array: str = ""
    text: tuple[str, ...] = ()

    @property
    def fts(self) -> str:
        return f"{self.name}_fts"

    def column(self, field: str) -> str | None:
        """The side table's column holding ``field`` as ``json_extract`` would give it."""
        if field == "id":
            return "id"
        if field in self.fields and field != self.array and field not in self.text:
            return f"f{self.fields.index(field)}"
        return None

    @property
    def element(self) -> str:
        """The column holding one element of the array field (multikey only)."""
        return f"f{self.fields.index(self.array)}"

    def text_column(self, field: str) -> str | None:
        return f"t{self.text.index(field)}" if field in self.text else None

    def spec(self) -> str:
        return json.dumps(
            {"kind": self.kind, "fields": self.fields, "array": self.array, "text": self.text},
            sort_keys=True,
        )


def side_of(table: str, index: Index) -> Side:
    return Side(
        table=table,
        name=f"s_{table.removeprefix('c_')}_{index.index_name}",
        kind=index.kind,
        fields=index.fields,
        array=index.array,
        text=index.text,
    )


def create_registry(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {REGISTRY} (tbl TEXT NOT NULL, name TEXT NOT NULL, "
        "spec TEXT NOT NULL, PRIMARY KEY (tbl, name))"
    )


def read_sides(conn: sqlite3.Connection, table: str) -> list[Side]:
    """The side indexes recorded for ``table`` (none in a file without ``_indexes``)."""
    try:
        rows = conn.execute(
            f"SELECT name, spec FROM {REGISTRY} WHERE tbl = ? ORDER BY name", (table,)
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    sides = []
    for name, spec in rows:
        data = json.loads(spec)
        sides.append(
            Side(
                table=table,
                name=name,
                kind=data["kind"],
                fields=tuple(data["fields"]),
                array=data["array"],
                text=tuple(data["text"]),
            )
        )
    return sides


def create_side(conn: sqlite3.Connection, side: Side) -> bool:
    """Create ``side`` with its triggers and fill it from the documents; False if it existed.

    The caller holds a transaction: the tables, triggers, rows and the
    registry entry appear together or not at all.
    """
    row = conn.execute(
        f"SELECT spec FROM {REGISTRY} WHERE tbl = ? AND name = ?", (side.table, side.name)
    ).fetchone()
    if row is not None:
        if row[0] != side.spec():
            raise StoreError(
                f"index {side.name} exists with another definition; drop it to change it"
            )
        return False
    statements = _array_ddl(side) if side.kind == "array" else _text_ddl(side)
    for sql in statements:
        conn.execute(sql)
    conn.execute(
        f"INSERT INTO {REGISTRY}(tbl, name, spec) VALUES (?, ?, ?)",
        (side.table, side.name, side.spec()),
    )
    return True


def _values(side: Side, doc: str, doc_id: str, element: str = "") -> list[str]:
    """SQL for each ``fN`` column's value, from the document ``doc`` (e.g. ``NEW.doc``)."""
    values = []
    for field in side.fields:
        if field == side.array:
            values.append(element)
        elif field == "id":
            values.append(doc_id)
        else:
            values.append(f"json_extract({doc}, {_path(field)})")
    return values


def _changed(fields: tuple[str, ...]) -> str:
    terms = ["OLD.id IS NOT NEW.id"]
    terms += [
        f"json_extract(OLD.doc, {_path(f)}) IS NOT json_extract(NEW.doc, {_path(f)})"
        for f in fields
        if f != "id"
    ]
    return " OR ".join(terms)


def _array_ddl(side: Side) -> list[str]:
    name, table = side.name, side.table
    cols = ", ".join(f"f{i}" for i in range(len(side.fields)))

    def insert(source: str, doc: str, doc_id: str) -> str:
        values = ", ".join(_values(side, doc, doc_id, "j.value"))
        return (
            f"INSERT OR IGNORE INTO {name} (id, {cols}) SELECT {doc_id}, {values} "
            f"FROM {source}json_each({doc}, {_path(side.array)}) AS j WHERE j.value IS NOT NULL"
        )

    return [
        f"CREATE TABLE {name} (id TEXT NOT NULL, {cols}, "
        f"PRIMARY KEY (id, {side.element})) WITHOUT ROWID",
        # Filled in key order, then indexed: appends and one sort, not random inserts.
        insert(f"{table} AS c, ", "c.doc", "c.id") + " ORDER BY c.id, j.value",
        f"CREATE INDEX {name}_k ON {name} ({cols})",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN "
        f"{insert('', 'NEW.doc', 'NEW.id')}; END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM {name} WHERE id = OLD.id; END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE ON {table} WHEN {_changed(side.fields)} BEGIN "
        f"DELETE FROM {name} WHERE id = OLD.id; {insert('', 'NEW.doc', 'NEW.id')}; END",
    ]


def _text_ddl(side: Side) -> list[str]:
    name, table, fts = side.name, side.table, side.fts
    texts = ", ".join(f"t{i}" for i in range(len(side.text)))
    plain = [f for f in side.fields if f not in side.text and f != "id"]
    columns = ["id", *(str(side.column(f)) for f in plain)]
    cols = ", ".join(columns)

    def text_values(doc: str) -> str:
        return ", ".join(f"cm_fold(json_extract({doc}, {_path(f)}))" for f in side.text)

    def plain_list(doc: str, doc_id: str) -> list[str]:
        return [doc_id, *(f"json_extract({doc}, {_path(f)})" for f in plain)]

    def plain_values(doc: str, doc_id: str) -> str:
        return ", ".join(plain_list(doc, doc_id))

    def row_of(doc_id: str) -> str:
        return f"(SELECT n FROM {name} WHERE id = {doc_id})"

    set_plain = ", ".join(
        f"{c} = {v}" for c, v in zip(columns, plain_list("NEW.doc", "NEW.id"), strict=True)
    )
    set_text = ", ".join(
        f"t{i} = cm_fold(json_extract(NEW.doc, {_path(f)}))" for i, f in enumerate(side.text)
    )
    text_changed = " OR ".join(
        f"json_extract(OLD.doc, {_path(f)}) IS NOT json_extract(NEW.doc, {_path(f)})"
        for f in side.text
    )
    return [
        # One row per document with the fields filters read; n numbers the rows
        # for the full-text table (at first the document's rowid, then new ones).
        f"CREATE TABLE {name} (n INTEGER PRIMARY KEY, {cols})",
        f"CREATE VIRTUAL TABLE {fts} USING fts5({texts}, tokenize='trigram case_sensitive 1')",
        f"INSERT INTO {name} (n, {cols}) SELECT rowid, {plain_values('doc', 'id')} FROM {table}",
        f"CREATE UNIQUE INDEX {name}_id ON {name} (id)",
        f"INSERT INTO {fts} (rowid, {texts}) SELECT rowid, {text_values('doc')} FROM {table}",
        f"INSERT INTO {fts} ({fts}) VALUES ('optimize')",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {name} ({cols}) VALUES ({plain_values('NEW.doc', 'NEW.id')}); "
        f"INSERT INTO {fts} (rowid, {texts}) VALUES ({row_of('NEW.id')}, "
        f"{text_values('NEW.doc')}); END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = {row_of('OLD.id')}; "
        f"DELETE FROM {name} WHERE id = OLD.id; END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE ON {table} WHEN {_changed(side.fields)} BEGIN "
        f"UPDATE {name} SET {set_plain} WHERE id = OLD.id; "
        f"UPDATE {fts} SET {set_text} WHERE rowid = {row_of('NEW.id')} "
        f"AND (OLD.id IS NOT NEW.id OR {text_changed}); END",
    ]
