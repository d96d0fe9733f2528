"""Field types and parsing the notes service's request models share.

A query string carries text, so a whole-number parameter is checked as
digits here rather than by pydantic's lenient conversion (which would take
``" 1_0 "``): what the published JSON Schema says is what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict, ValidationError


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise ValueError("must be a whole number")
        return int(value)
    return value


def query_int(**limits: int) -> Any:
    """A whole number in a query string (digits only) within ``limits`` (ge, le)."""
    # The limits first, then the digits check around them: so the JSON Schema
    # carries them as minimum/maximum.
    return Annotated[int, Field(**limits), BeforeValidator(_whole)]


# A JSON integer (no strings, no booleans).
JsonInt = Annotated[int, Strict()]
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def blank_means_absent(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a query model: each parameter may also be sent blank.

    The handlers drop blank parameters (``non_blank``) before validating, so
    ``?start=`` is the default: the published schema says so (``""`` is one
    of each parameter's alternatives) instead of pretending it is refused.
    """
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


_META = frozenset({"title", "description", "default", "examples"})


def query_values(params: Mapping[str, str]) -> dict[str, str]:
    """The first value of each query parameter, as a plain dict for a model."""
    return {name: params[name] for name in params}


def non_blank(values: Mapping[str, Any]) -> dict[str, Any]:
    """Blank parameters (``?start=``) read as absent, as the seed's clients send them."""
    return {k: v for k, v in values.items() if not (isinstance(v, str) and v == "")}


def problems(exc: ValidationError) -> list[tuple[str, str, Any]]:
    """(dotted location, message, offending input) of each error, in order."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append((where, message, err.get("input")))
    return out
