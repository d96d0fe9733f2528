"""Case variables in ProcessMaker's format.

What a client sends (``POST /cases`` ``variables``, ``PUT …/variable``) is
stored the way ProcessMaker stores it:

- ``true``/``false`` become ``"1"``/``"0"``; numbers become strings
  (``56789`` → ``"56789"``, ``12249.99`` → ``"12249.99"``; floats are written
  in plain positional notation, never with an exponent, and whole floats
  without ``.0``); strings, dates included, are kept exactly as given.
- ``null`` becomes ``""``. ProcessMaker keeps a JSON ``null`` as PHP ``null``
  (and ``http_build_query`` drops null fields altogether); its own advice for
  clearing a variable is to set it to ``""``, and a DynaForm shows both as an
  empty field, so Casemesh stores ``""`` and a variable is always a string, a
  list of strings or an object.
- A list of values (a checkbox or checkbox group) stays a list, of strings.
- A grid, sent as a list of row objects or as an object of row objects keyed
  by row numbers, becomes an object of row objects keyed ``"1"``, ``"2"``, …
  (rows of an object are taken in numeric order and renumbered from 1). Row
  fields are normalised by the same rules.
- Any other object keeps its keys; its values are normalised by the same rules.
- ``*_label`` companions (at the top level and in rows) are kept as given:
  ``'["Fax", "Email"]'`` stays that string.

Variable names are case-sensitive: a letter or underscore, then letters,
digits and underscores, at most 64 characters. ProcessMaker also tolerates
Latin-1 letters but advises against them; Casemesh refuses them, because a
name must be usable as ``@@name`` in conditions and triggers. The system
variables (``SYSTEM_VARIABLES``) are computed for every request and cannot be
set by a client: ProcessMaker refuses them too (``ID_CAN_NOT_CHANGE``).

Limits per case: ``MAX_VARIABLES`` variables, ``MAX_DEPTH`` levels of nesting
below a variable, ``MAX_SIZE`` bytes of variables serialised as JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.cases.definitions.model import is_variable_name

MAX_VARIABLES = 2_000
MAX_DEPTH = 8  # a grid (1) of rows (2) with a checkbox list (3) leaves room to spare
MAX_SIZE = 1024 * 1024
MAX_KEY_LENGTH = 255
LABEL_SUFFIX = "_label"

DEFAULT_LANG = "en"
DEFAULT_SKIN = "neoclassic"
SYSTEM_VARIABLES = (
    "SYS_LANG",
    "SYS_SKIN",
    "SYS_SYS",
    "APPLICATION",
    "PROCESS",
    "TASK",
    "INDEX",
    "USER_LOGGED",
    "USR_USERNAME",
    "PIN",
)

_ROW_NUMBER = re.compile(r"^[0-9]{1,9}$")


class VariablesError(ValueError):
    """Variables a client sent that cannot be stored; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalise_variables(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as ProcessMaker stores them; raise VariablesError if any is invalid."""
    if not isinstance(raw, Mapping):
        raise VariablesError("variables must be an object of name: value pairs")
    if len(raw) > MAX_VARIABLES:
        raise VariablesError(f"a case has at most {MAX_VARIABLES} variables")
    variables: dict[str, Any] = {}
    for name, value in raw.items():
        check_variable_name(name)
        if name.endswith(LABEL_SUFFIX):
            variables[name] = _as_given(value, name, 1)
        else:
            variables[name] = _normalise(value, name, 1)
    check_size(variables)
    return variables


def unwrap_variables(value: Any) -> Mapping[str, Any]:
    """The variables of ``POST /cases``: ``[{...}]`` as the seed sends it, or a bare object.

    Several objects in the list are merged in order; absent means none.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    raise VariablesError("variables must be an object of variables inside an array: [{...}]")


def merge_variables(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``PUT …/variable``: set or replace each variable of ``new``; never remove one.

    ``new`` should come from ``normalise_variables``. A grid is replaced whole,
    as ProcessMaker's ``array_merge`` does. Raise VariablesError past the limits.
    """
    merged = {**current, **new}
    if len(merged) > MAX_VARIABLES:
        raise VariablesError(f"a case has at most {MAX_VARIABLES} variables")
    check_size(merged)
    return merged


def system_variables(
    *,
    workspace: str,
    app_uid: str,
    pro_uid: str,
    tas_uid: str,
    del_index: int,
    user_uid: str,
    username: str,
    pin: str,
    lang: str = DEFAULT_LANG,
    skin: str = DEFAULT_SKIN,
) -> dict[str, str]:
    """The system variables ``GET …/variables`` shows first, in the seed's order."""
    return {
        "SYS_LANG": lang,
        "SYS_SKIN": skin,
        "SYS_SYS": workspace,
        "APPLICATION": app_uid,
        "PROCESS": pro_uid,
        "TASK": tas_uid,
        "INDEX": str(del_index),
        "USER_LOGGED": user_uid,
        "USR_USERNAME": username,
        "PIN": pin,
    }


def check_variable_name(name: object) -> str:
    if not isinstance(name, str) or not is_variable_name(name):
        raise VariablesError(
            f"invalid variable name {name!r}: a name starts with a letter or underscore "
            "and holds only letters, digits and underscores (at most 64)"
        )
    if name in SYSTEM_VARIABLES:
        raise VariablesError(f"the system variable {name} cannot be changed")
    return name


def check_size(variables: Mapping[str, Any]) -> None:
    size = len(json.dumps(variables, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_SIZE:
        raise VariablesError(
            f"the case's variables would take {size} bytes; the limit is {MAX_SIZE}"
        )


def number_text(value: int | float) -> str:
    """A number as ProcessMaker stores it: ``56789``, ``12249.99``, never ``1e+20``."""
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            raise VariablesError("a number has too many digits") from None
    if not math.isfinite(value):
        raise VariablesError(f"{value} is not a number a variable can hold")
    if value == 0:
        return "0"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _normalise(value: Any, where: str, depth: int) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, str):
        return value
    if depth > MAX_DEPTH:
        raise VariablesError(f"{where} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        return _normalise_list(value, where, depth)
    if isinstance(value, Mapping):
        return _normalise_object(value, where, depth)
    raise VariablesError(f"{where} holds a value of type {type(value).__name__}, not JSON")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _normalise_list(items: list | tuple, where: str, depth: int) -> Any:
    if all(_is_scalar(item) for item in items):
        return [_normalise(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(items)]
    if all(isinstance(item, Mapping) for item in items):
        return _grid(list(items), where, depth)
    raise VariablesError(
        f"{where} must be a list of values (a checkbox group) or of rows (a grid), not a mix"
    )


def _normalise_object(obj: Mapping, where: str, depth: int) -> dict[str, Any]:
    for key in obj:
        _check_key(key, where)
    rows = obj and all(_ROW_NUMBER.match(key) for key in obj)
    if rows and all(isinstance(row, Mapping) for row in obj.values()):
        ordered = sorted(obj.items(), key=lambda item: int(item[0]))
        return _grid([row for _, row in ordered], where, depth)
    return _fields(obj, where, depth)


def _grid(rows: list[Mapping], where: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, row in enumerate(rows, start=1):
        row_where = f"{where}[{number}]"
        if depth + 1 > MAX_DEPTH:
            raise VariablesError(f"{row_where} is nested deeper than {MAX_DEPTH} levels")
        for key in row:
            _check_key(key, row_where)
        out[str(number)] = _fields(row, row_where, depth + 1)
    return out


def _fields(obj: Mapping, where: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        field_where = f"{where}.{key}"
        if key.endswith(LABEL_SUFFIX):
            out[key] = _as_given(value, field_where, depth + 1)
        else:
            out[key] = _normalise(value, field_where, depth + 1)
    return out


def _check_key(key: object, where: str) -> None:
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LENGTH
        or "." in key
        or key.startswith("$")
        or "\0" in key
    ):
        raise VariablesError(
            f"{where} has an invalid key {key!r}: keys are 1-{MAX_KEY_LENGTH} characters "
            "without '.', a leading '$' or NUL"
        )


def _as_given(value: Any, where: str, depth: int) -> Any:
    """A label, kept as the client sent it once it is checked to be plain JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise VariablesError(f"{where}: {value} is not a JSON number")
        return value
    if depth > MAX_DEPTH:
        raise VariablesError(f"{where} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        return [_as_given(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            _check_key(key, where)
            out[key] = _as_given(item, f"{where}.{key}", depth + 1)
        return out
    raise VariablesError(f"{where} holds a value of type {type(value).__name__}, not JSON")
