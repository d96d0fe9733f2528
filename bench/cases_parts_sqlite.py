"""The raw parts' SQLite databases: opened as the platform's store opens its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """WAL, ``synchronous=NORMAL``, explicit transactions, ``schema`` created if missing."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
