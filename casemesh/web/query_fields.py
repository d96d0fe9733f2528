"""Query-string fields for request models, shared by every service.

A query string carries text, so a whole-number parameter is checked as
digits here rather than by pydantic's lenient conversion (which would take
``" 1_0 "``): what the published JSON Schema says is what is accepted.
Handlers drop blank parameters before validating, so ``?start=`` means the
default; ``blank_means_absent`` makes the published schema say so.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MAX_DIGITS = 18  # fits a signed 64-bit integer
_META = frozenset({"title", "description", "default", "examples"})


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > MAX_DIGITS:
            raise ValueError("must be a whole number")
        return int(value)
    return value


def query_int(**limits: int) -> Any:
    """A whole number in a query string (digits only) within ``limits`` (ge, le)."""
    # The limits first, then the digits check around them: so the JSON Schema
    # carries them as minimum/maximum.
    return Annotated[int, Field(**limits), BeforeValidator(_whole)]


def blank_means_absent(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a query model: each parameter may also be sent blank."""
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "string" and len(prop.keys() - _META) == 1:
            continue  # any text: blank included already
        kept = {k: v for k, v in prop.items() if k not in _META}
        meta = {k: v for k, v in prop.items() if k in _META}
        branches = [b for b in kept.pop("anyOf", None) or [kept] if b != {"type": "null"}]
        if branches == [{"type": "string"}]:
            schema["properties"][name] = {**meta, "type": "string"}
        else:
            schema["properties"][name] = {**meta, "anyOf": [*branches, {"const": ""}]}
