"""Field types and parsing the notes service's request models share.

Whole-number query fields live in casemesh.web.query_fields.
digits here rather than by pydantic's lenient conversion (which would take
``" 1_0 "``): what the published JSON Schema says is what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Strict, ValidationError

# A JSON integer (no strings, no booleans).
JsonInt = Annotated[int, Strict()]
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


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
