"""Pure helpers shared by store adapters: applying changes to documents."""

from __future__ import annotations

import copy

from casemesh.store.filters import check_field
from casemesh.store.port import Document

RESERVED = ("id", "_version")


def apply_changes(doc: Document, changes: Document, *, private: bool = False) -> Document:
    """Return a copy of ``doc`` with ``changes`` set; dotted keys reach into objects.

    ``private=True``: ``doc`` is the caller's own copy and the result goes
    straight to JSON, so nothing is copied — ``doc`` is changed in place and
    the result shares the values of ``changes`` (the adapters read the
    document they return back from its JSON).
    """
    out = doc if private else copy.deepcopy(doc)
    for key, value in changes.items():
        check_field(key)
        if key in RESERVED:
            raise ValueError(f"{key} cannot be changed")
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value if private else copy.deepcopy(value)
    return out


def check_new_document(doc: Document) -> str:
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) > 200:
        raise ValueError("a document needs a non-empty string id (at most 200 characters)")
    if "_version" in doc:
        raise ValueError("_version is managed by the store")
    return doc_id
