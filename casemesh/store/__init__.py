"""Document-store port, typed filters and adapters (SQLite, MongoDB)."""
