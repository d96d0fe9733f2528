"""How the MongoDB adapter checks and shapes documents: pure functions, no I/O.

Ids and versions are checked for type (a dict would be an operator document
in a query); documents go through JSON like the SQLite adapter's, and map
``id`` to MongoDB's ``_id`` and back. A collection with a text index keeps
the folded text of its text fields in ``_fold`` (nested as the fields are),
which never leaves the adapter.
"""

from __future__ import annotations

import json
from typing import Any

from casemesh.store.documents import RESERVED
from casemesh.store.filters import check_field, fold, get_path
from casemesh.store.port import Document

FOLD = "_fold"  # the folded copies of text-indexed fields
ADAPTER_KEYS = ("_id", FOLD)


def check_id(doc_id: object) -> str:
    # A dict here would be an operator document in the query: ids are strings.
    if not isinstance(doc_id, str):
        raise TypeError(f"document ids are strings, got {type(doc_id).__name__}")
    return doc_id


def check_version(version: object) -> int | None:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise TypeError(f"expected_version must be an int, got {type(version).__name__}")
    return version  # type: ignore[return-value]


def counter_key(name: str, scope: str) -> str:
    if not isinstance(name, str) or not isinstance(scope, str):
        raise TypeError("counter names and scopes are strings")
    return name.replace("\\", "\\\\").replace(":", "\\:") + ":" + scope


def json_body(doc: Document) -> Document:
    """The document as the SQLite adapter stores it: through JSON, minus ``_version``.

    Going through JSON keeps both adapters accepting and returning the same
    values (a datetime is refused, a tuple comes back as a list).
    """
    body = {k: v for k, v in doc.items() if k != "_version"}
    return json.loads(json.dumps(body, separators=(",", ":"), ensure_ascii=False))


def check_new_keys(doc: Document) -> None:
    for key in ADAPTER_KEYS:
        if key in doc:
            raise ValueError(f"{key} is reserved by the MongoDB adapter")


def check_change_keys(changes: Document) -> None:
    for key in changes:
        check_field(key)
        head = key.split(".", 1)[0]
        if head in ADAPTER_KEYS:
            raise ValueError(f"{head} is reserved by the MongoDB adapter")
        if head in RESERVED:
            raise ValueError(f"{key} cannot be changed")


def folded(body: Document, text_fields: frozenset[str]) -> dict[str, Any]:
    """``_fold``'s value: each text field that holds a string, folded, at its own path."""
    out: dict[str, Any] = {}
    for path in sorted(text_fields):
        value = get_path(body, path)
        if not isinstance(value, str):
            continue
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = fold(value)
    return out


def to_stored(
    body: Document, version: int, text_fields: frozenset[str] = frozenset()
) -> dict[str, Any]:
    stored: dict[str, Any] = {"_id": body["id"]}
    stored.update((k, v) for k, v in body.items() if k != "id")
    stored["_version"] = version
    if text_fields:
        stored[FOLD] = folded(body, text_fields)
    return stored


def from_stored(raw: dict[str, Any]) -> Document:
    doc: Document = {"id": raw["_id"]}
    doc.update((k, v) for k, v in raw.items() if k not in ("_id", "_version", FOLD))
    doc["_version"] = raw["_version"]
    return doc
