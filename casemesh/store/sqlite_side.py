"""Multikey, text and counted indexes of the SQLite store: side tables that triggers keep.

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
- text (``Index(fields, text=(…))``): ``s_<collection>_<index>(n, id,
  f0…)`` with the other fields as they are, plus an FTS5 table over the
  text fields folded (``t0…``, ``cm_fold`` = ``str.casefold``) with the
  ``trigram`` tokenizer (``case_sensitive 1``: the text is folded already),
  its rowid the side row's ``n``. A phrase of the folded search text (3
  characters or more) matches exactly the rows where it is a substring.
  With ``facets``, ``<side>_codes(code, f, v)`` numbers each value a facet
  holds (``f`` = 3 * its position: a scalar value, NULL for a missing
  field; + 1: an element of an array or object; + 2: an empty array or
  object), told apart with ``IS`` as ``=`` compares them, and the FTS
  table's column ``k`` holds the codes of the document's values, each as
  three private-use characters (one trigram: ``facet_token``), so that a
  phrase of one code matches exactly the documents holding that value
  (``sqlite_facets`` turns filters into such phrases);
- counted (``Index(fields, counted=True)``, optionally with ``array=f``):
  ``s_<collection>_<index>(n, f0…fn)``, one row per distinct combination of
  the fields' values (with ``array``: of each distinct non-null element
  with the other fields) and ``n`` the documents holding it, with an index
  on ``(f0…fn)``. Combinations are told apart with ``IS`` — the comparison
  ``=`` makes, NULL included — so a filter on the columns matches a row
  exactly when it matches each of its documents, and a count is the sum of
  ``n`` over the rows it matches. A combination no document holds any more
  keeps its row, with ``n = 0``.

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
from collections.abc import Sequence
from dataclasses import dataclass

from casemesh.store.filters import check_field
from casemesh.store.port import Index

REGISTRY = "_indexes"


def fold_or_null(value: object) -> str | None:
    """SQLite function ``cm_fold``: the folded text of a string, NULL for anything else."""
    return value.casefold() if isinstance(value, str) else None


def _path(field: str) -> str:
    return f"'$.{check_field(field)}'"


@dataclass(frozen=True)
class Side:
    """A multikey, text or counted index of ``table`` as the query planner sees it."""

    table: str
    name: str  # the side table
    kind: str  # "array", "text" or "counted"
    fields: tuple[str, ...]
    array: str = ""
    text: tuple[str, ...] = ()
    facets: tuple[str, ...] = ()

    @property
    def fts(self) -> str:
        return f"{self.name}_fts"

    @property
    def codes(self) -> str:
        return f"{self.name}_codes"

    def column(self, field: str) -> str | None:
        """The side table's column holding ``field`` as ``json_extract`` would give it."""
        if field == "id":
            return None if self.kind == "counted" else "id"
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
        spec = {"kind": self.kind, "fields": self.fields, "array": self.array, "text": self.text}
        if self.facets:  # absent otherwise: the specs of indexes made before facets still match
            spec["facets"] = self.facets
        return json.dumps(spec, sort_keys=True)


def side_of(table: str, index: Index) -> Side:
    return Side(
        table=table,
        name=f"s_{table.removeprefix('c_')}_{index.index_name}",
        kind=index.kind,
        fields=index.fields,
        array=index.array,
        text=index.text,
        facets=index.facets,
    )


def facet_token(code: int) -> str:
    """A facet code as the FTS column ``k`` holds it: three private-use characters.

    Tokens are separated by spaces there, so a trigram that spans two of them
    holds a space and is never a token; code 0 is never given to a value.
    """
    return "".join(chr(0xE000 + code // 6400**i % 6400) for i in (2, 1, 0))


def _token_sql(code: str) -> str:
    """``facet_token`` in SQL."""
    digits = (f"{code} / 40960000 % 6400", f"{code} / 6400 % 6400", f"{code} % 6400")
    return "char(" + ", ".join(f"57344 + {d}" for d in digits) + ")"


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
                facets=tuple(data.get("facets", ())),
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
        if row[0] == side.spec():
            return False
        # Another definition under the same name: it holds only what the documents
        # say, so it is dropped and built again (once, by whichever store gets here first).
        drop_side(conn, side.table, side.name)
    ddl = {"array": _array_ddl, "text": _text_ddl, "counted": _counted_ddl}[side.kind]
    statements = ddl(side)
    for sql in statements:
        conn.execute(sql)
    conn.execute(
        f"INSERT INTO {REGISTRY}(tbl, name, spec) VALUES (?, ?, ?)",
        (side.table, side.name, side.spec()),
    )
    return True


def drop_side(conn: sqlite3.Connection, table: str, name: str) -> None:
    """Drop the side index ``name`` of ``table``: its triggers, tables and registry entry."""
    for trigger in ("ai", "ad", "au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
    for part in ("", "_fts", "_codes"):
        conn.execute(f"DROP TABLE IF EXISTS {name}{part}")
    conn.execute(f"DELETE FROM {REGISTRY} WHERE tbl = ? AND name = ?", (table, name))


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


def _array_of(doc: str, fields: Sequence[str]) -> str:
    """SQL for a JSON array of the fields' values in ``doc``, which is parsed once.

    json_extract with several paths gives them as one array; with one path it
    gives the value itself, which json_array wraps (an object or array as JSON,
    thanks to json_extract's JSON subtype). Reading element ``i`` back with
    json_extract gives what ``json_extract(doc, path_i)`` gives (SQLite 3.40
    parses a document again on every json_extract call).
    """
    paths = ", ".join(_path(f) for f in fields)
    if len(fields) == 1:
        return f"json_array(json_extract({doc}, {paths}))"
    return f"json_extract({doc}, {paths})"


# A facet entry of a document, from json_each over its facets' values (j) and,
# for an array or object value, its elements (e): (f, v) as the codes table has them.
_COMPOSITE = "j.type IN ('array', 'object')"
_ENTRY_F = (
    f"CASE WHEN NOT {_COMPOSITE} THEN 3 * j.key WHEN e.key IS NULL THEN 3 * j.key + 2 "
    "ELSE 3 * j.key + 1 END"
)
_ENTRY_V = f"CASE WHEN NOT {_COMPOSITE} THEN j.value ELSE e.value END"


def _entries(values: str) -> str:
    """FROM … WHERE … of a document's facet entries; ``values``: ``_array_of`` its facets."""
    return (
        f"json_each({values}) AS j LEFT JOIN json_each(CASE WHEN {_COMPOSITE} THEN j.value END) "
        "AS e WHERE NOT (e.key IS NOT NULL AND e.value IS NULL)"
    )


def _text_ddl(side: Side) -> list[str]:
    name, table, fts, codes = side.name, side.table, side.fts, side.codes
    plain = [f for f in side.fields if f not in side.text and f != "id"]
    columns = ["id", *(str(side.column(f)) for f in plain)]
    cols = ", ".join(columns)
    texts = [f"t{i}" for i in range(len(side.text))]
    fts_columns = ", ".join([*texts, *(["k"] if side.facets else [])])
    stored = [*plain, *side.text]  # the values array: stored fields, then texts

    def picks(doc_id: str) -> str:
        """The side row's values, from ``x.a`` (the values array)."""
        return ", ".join([doc_id, *(f"json_extract(x.a, '$[{i}]')" for i in range(len(plain)))])

    def folded() -> list[str]:
        return [f"cm_fold(json_extract(x.a, '$[{len(plain) + i}]'))" for i in range(len(texts))]

    def tokens(doc: str) -> list[str]:
        if not side.facets:
            return []
        source, _, where = _entries(_array_of(doc, side.facets)).partition(" WHERE ")
        return [
            f"(SELECT group_concat({_token_sql('cd.code')}, ' ') FROM {source} "
            f"JOIN {codes} AS cd ON cd.f = {_ENTRY_F} AND cd.v IS {_ENTRY_V} WHERE {where})"
        ]

    def new_codes(doc: str, when: str = "1") -> list[str]:
        if not side.facets:
            return []
        return [
            f"INSERT INTO {codes} (f, v) SELECT DISTINCT en.f, en.v FROM (SELECT {_ENTRY_F} AS f, "
            f"{_ENTRY_V} AS v FROM {_entries(_array_of(doc, side.facets))}) AS en WHERE {when} "
            f"AND NOT EXISTS (SELECT 1 FROM {codes} AS cd WHERE cd.f = en.f AND cd.v IS en.v)"
        ]

    def row_of(doc_id: str) -> str:
        return f"(SELECT n FROM {name} WHERE id = {doc_id})"

    def values(doc: str) -> str:
        return f"(SELECT {_array_of(doc, stored)} AS a) AS x"

    def changed(fields: Sequence[str]) -> str:
        if not fields:
            return "0"
        return f"{_array_of('OLD.doc', fields)} IS NOT {_array_of('NEW.doc', fields)}"

    full_text = ", ".join([*folded(), *tokens("NEW.doc")])
    statements = [
        # One row per document with the fields filters read; n numbers the rows
        # for the full-text table (at first the document's rowid, then new ones).
        f"CREATE TABLE {name} (n INTEGER PRIMARY KEY, {cols})",
        f"CREATE VIRTUAL TABLE {fts} USING fts5({fts_columns}, "
        "tokenize='trigram case_sensitive 1')",
        f"INSERT INTO {name} (n, {cols}) SELECT x.r, {picks('x.id')} "
        f"FROM (SELECT rowid AS r, id, {_array_of('doc', stored)} AS a FROM {table}) AS x",
        f"CREATE UNIQUE INDEX {name}_id ON {name} (id)",
    ]
    if side.facets:
        statements += [
            f"CREATE TABLE {codes} (code INTEGER PRIMARY KEY, f INTEGER NOT NULL, v)",
            f"CREATE INDEX {codes}_k ON {codes} (f, v)",
            f"INSERT INTO {codes} (f, v) SELECT DISTINCT {_ENTRY_F}, {_ENTRY_V} "
            f"FROM {table} AS c, {_entries(_array_of('c.doc', side.facets))} ORDER BY 1, 2",
        ]
    fill_tokens = [t.replace("NEW.doc", "x.doc") for t in tokens("NEW.doc")]
    statements += [
        f"INSERT INTO {fts} (rowid, {fts_columns}) SELECT x.r, "
        + ", ".join([*folded(), *fill_tokens])
        + f" FROM (SELECT rowid AS r, doc, {_array_of('doc', stored)} AS a FROM {table}) AS x",
        f"INSERT INTO {fts} ({fts}) VALUES ('optimize')",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {name} ({cols}) SELECT {picks('NEW.id')} FROM {values('NEW.doc')}; "
        + "".join(f"{sql}; " for sql in new_codes("NEW.doc"))
        + f"INSERT INTO {fts} (rowid, {fts_columns}) SELECT {row_of('NEW.id')}, {full_text} "
        f"FROM {values('NEW.doc')}; END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = {row_of('OLD.id')}; "
        f"DELETE FROM {name} WHERE id = OLD.id; END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE ON {table} "
        f"WHEN OLD.id IS NOT NEW.id OR {changed(stored)} BEGIN "
        f"UPDATE {name} SET ({cols}) = (SELECT {picks('NEW.id')} FROM {values('NEW.doc')}) "
        "WHERE id = OLD.id; "
        + "".join(f"{sql}; " for sql in new_codes("NEW.doc", changed(side.facets)))
        + f"UPDATE {fts} SET ({fts_columns}) = (SELECT {full_text} FROM {values('NEW.doc')}) "
        f"WHERE rowid = {row_of('NEW.id')} "
        f"AND (OLD.id IS NOT NEW.id OR {changed([*side.text, *side.facets])}); END",
    ]
    return statements


def _counted_ddl(side: Side) -> list[str]:
    """A counted index: combinations of values and how many documents hold each."""
    name, table = side.name, side.table
    cols = [f"f{i}" for i in range(len(side.fields))]
    col_list = ", ".join(cols)
    paths = ", ".join(_path(f) for f in side.fields)
    several = len(side.fields) > 1

    def picks(source: str) -> str:
        """``f0…fn`` from ``source``: the document, or the JSON array of its values."""
        if not several:
            return f"json_extract({source}, {paths}) AS f0"
        # json_extract with several paths gives them as one JSON array, read back
        # element by element as json_extract gives each value: the document is
        # parsed once (SQLite 3.40 parses it on every call).
        return ", ".join(f"json_extract({source}, '$[{i}]') AS f{i}" for i in range(len(cols)))

    def values(doc: str) -> str:
        """A one-row subquery ``v``: the document's values ``v.f0…`` (and ``v.a``)."""
        if not several:
            return f"(SELECT {picks(doc)}, NULL AS a)"
        return f"(SELECT {picks('x.a')}, x.a FROM (SELECT json_extract({doc}, {paths}) AS a) AS x)"

    def elements(doc: str, holder: str) -> str:
        """The array's elements, from the array of values when there is one."""
        if several:
            return f"json_each({holder}.a, '$[{side.fields.index(side.array)}]')"
        return f"json_each({doc}, {_path(side.array)})"

    def own(c: str, f: str, holder: str = "v") -> str:
        return "e.value" if f == side.array else f"{holder}.{c}"

    pairs = list(zip(cols, side.fields, strict=True))
    live = "e.value IS NOT NULL" if side.array else "1"

    def matching(doc: str) -> tuple[str, str]:
        """FROM and WHERE of the combinations ``doc`` holds."""
        source = f"{values(doc)} AS v"
        if side.array:
            source += f" CROSS JOIN {elements(doc, 'v')} AS e"
        same = " AND ".join(f"g.{c} IS {own(c, f)}" for c, f in pairs)
        return source, f"{live} AND {same}"

    def step(doc: str, change: str) -> str:
        source, where = matching(doc)
        # CROSS JOIN: the document's combinations first, each a seek of the index
        # (left to itself, SQLite may scan the combinations and test each element).
        return (
            f"UPDATE {name} SET n = n {change} WHERE rowid IN "
            f"(SELECT g.rowid FROM {source} CROSS JOIN {name} AS g WHERE {where})"
        )

    def add(doc: str) -> str:
        source, where = matching(doc)
        picked = ", ".join(own(c, f) for c, f in pairs)
        return (
            f"INSERT INTO {name} (n, {col_list}) SELECT DISTINCT 0, {picked} FROM {source} "
            f"WHERE {live} AND NOT EXISTS (SELECT 1 FROM {name} AS g WHERE {where}); "
            + step(doc, "+ 1")
        )

    # The documents, each parsed once: x.r its rowid, x.a its values (or itself).
    whole = f"json_extract(doc, {paths})" if several else "doc"
    documents = f"(SELECT rowid AS r, {whole} AS a FROM {table}) AS x"
    if side.array:
        # One row per document and distinct element (DISTINCT compares as = does,
        # like the combinations' IS), then one count per combination.
        picked = ", ".join(f"{own(c, f)} AS {c}" for c, f in pairs)
        rows = (
            f"SELECT DISTINCT v.r, {picked} FROM (SELECT x.r, {picks('x.a')}, x.a "
            f"FROM {documents}) AS v, {elements('v.a', 'v')} AS e WHERE e.value IS NOT NULL"
        )
    else:
        rows = f"SELECT {picks('x.a')} FROM {documents}"
    fill = (
        f"INSERT INTO {name} (n, {col_list}) SELECT count(*), {col_list} FROM ({rows}) "
        f"GROUP BY {col_list}"
    )
    changed = f"json_extract(OLD.doc, {paths}) IS NOT json_extract(NEW.doc, {paths})"
    return [
        f"CREATE TABLE {name} (n INTEGER NOT NULL, {col_list})",
        fill,
        f"CREATE INDEX {name}_k ON {name} ({col_list})",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN {add('NEW.doc')}; END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN {step('OLD.doc', '- 1')}; END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE ON {table} WHEN {changed} BEGIN "
        f"{step('OLD.doc', '- 1')}; {add('NEW.doc')}; END",
    ]
