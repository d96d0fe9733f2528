"""Read a request body as fields, whatever the client sent.

ProcessMaker clients send JSON, or ``http_build_query()`` output (PHP bracket
notation: ``variables[0][client]=Acme``), or ``multipart/form-data``. All three
read the same way here:

- ``application/json`` (and ``application/*+json``): the top level must be an
  object, or an array where the caller allows it. ``NaN``/``Infinity`` are
  refused. A leading UTF-8 byte-order mark is ignored.
- ``application/x-www-form-urlencoded``: decoded by PHP's ``parse_str`` rules:

  * pairs split on ``&``; ``+`` is a space; ``%XX`` escapes; a pair without
    ``=`` has the value ``""``; empty pairs are skipped;
  * in the top-level name (before the first ``[``) spaces and dots become
    ``_`` and leading spaces are dropped; a name cut short by ``%00`` ends
    there; an empty name is skipped;
  * ``a[b][c]=v`` nests; ``a[]=v`` (or ``a[ ]``: one whitespace) appends at
    the next integer index: one more than the largest integer key so far, or
    0 when there is none, as PHP 8 does (PHP 7 used 0 after negative keys);
  * a first ``[`` without its ``]`` is part of the name, which PHP then
    mangles whole (``a[b.c=1`` sets ``a_b_c``); text after a ``]`` that is
    not another ``[`` is ignored;
  * keys that are canonical decimal integers (``0``, ``7``, ``-3``, not
    ``07``) are integer keys, so ``a[1]`` and ``a[01]`` are different keys;
  * the last value wins; assigning below a name that holds a string replaces
    the string with an array.

  An array becomes a JSON list when its keys are exactly ``0..n-1`` in that
  order (what ``a[]=x&a[]=y`` or ``a[0]=x&a[1]=y`` build), and an object with
  string keys otherwise (``grid[1][name]=x`` gives ``{"1": {"name": "x"}}``),
  which is what PHP's ``json_encode`` does with the same array.
- ``multipart/form-data``: text fields only, named in the same bracket
  notation. A part with a filename is refused (files are uploaded to the
  documents service's endpoints).
- No ``Content-Type``, or ``application/octet-stream``: JSON if the body
  starts with ``{`` or ``[``, else form encoding. Any other type: 415. An
  empty body reads as ``{}``.

Limits: the body size (``max_size``, 413 beyond it), nesting depth (the top
level is depth 1; 16 by default) and the number of fields (form pairs or
multipart parts; for JSON, every member and element at any depth; 10,000 by
default). Text must be UTF-8 whatever charset the client declares. Every
refusal is an ``ApiError`` with a message saying what was wrong.

Call ``read_fields`` once per request, before anything else reads the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from casemesh.web.errors import ApiError

MAX_BODY_SIZE = 1024 * 1024
MAX_DEPTH = 16
MAX_FIELDS = 10_000
CHUNK_SIZE = 64 * 1024

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
UNSPECIFIED = "application/octet-stream"  # what many clients send for "some bytes"

_PHP_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")
_PHP_INT_MIN, _PHP_INT_MAX = -(2**63), 2**63 - 1
_C_SPACES = frozenset(" \t\n\v\f\r")


async def read_fields(
    request: web.Request,
    *,
    max_size: int = MAX_BODY_SIZE,
    allow_array: bool = False,
    max_depth: int = MAX_DEPTH,
    max_fields: int = MAX_FIELDS,
) -> dict[str, Any] | list[Any]:
    """The request body as a dict (or a list, for a JSON array when allowed)."""
    kind = body_kind(request)
    if kind == MULTIPART:
        return await _read_multipart(request, max_size, max_depth, max_fields)
    body = await read_body(request, max_size)
    if not body.strip():
        return {}
    if kind is None:
        kind = JSON if body.lstrip()[:1] in (b"{", b"[") else FORM
    if kind == JSON:
        return parse_json_fields(
            body, allow_array=allow_array, max_depth=max_depth, max_fields=max_fields
        )
    return parse_urlencoded(body, max_depth=max_depth, max_fields=max_fields)


def body_kind(request: web.Request) -> str | None:
    """JSON, FORM or MULTIPART by the Content-Type; None when unspecified; else 415."""
    ctype = request.content_type if request.headers.get("Content-Type", "").strip() else ""
    if ctype in ("", UNSPECIFIED):
        return None
    if ctype == JSON or (ctype.startswith("application/") and ctype.endswith("+json")):
        return JSON
    if ctype in (FORM, MULTIPART):
        return ctype
    raise ApiError(415, f"send {JSON}, {FORM} or {MULTIPART}, not {ctype}")


async def read_body(request: web.Request, max_size: int = MAX_BODY_SIZE) -> bytes:
    """The raw body, refused with 413 once it is larger than ``max_size`` bytes."""
    length = request.content_length
    if length is not None and length > max_size:
        raise _too_large(max_size)
    body = bytearray()
    while chunk := await request.content.read(CHUNK_SIZE):
        body += chunk
        if len(body) > max_size:
            raise _too_large(max_size)
    return bytes(body)


def _too_large(max_size: int) -> ApiError:
    return ApiError(413, f"the request body is too large (more than {max_size} bytes)")


# -- JSON ----------------------------------------------------------------------


def parse_json_fields(
    body: bytes,
    *,
    allow_array: bool = False,
    max_depth: int = MAX_DEPTH,
    max_fields: int = MAX_FIELDS,
) -> dict[str, Any] | list[Any]:
    """Parse a JSON body whose top level is an object (or an array when allowed)."""
    text = _utf8(body, "the JSON body").removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise ApiError(400, f"the JSON body is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    wanted = (dict, list) if allow_array else dict
    if not isinstance(value, wanted):
        expected = "an object or an array" if allow_array else "an object"
        raise ApiError(400, f"the JSON body must be {expected}, not {_json_kind(value)}")
    check_shape(value, max_depth=max_depth, max_fields=max_fields)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def check_shape(value: object, *, max_depth: int = MAX_DEPTH, max_fields: int = MAX_FIELDS) -> None:
    """Refuse a parsed body nested deeper than ``max_depth`` or holding too many values.

    The top-level container is depth 1; every member and element below it
    counts as one field. Shared sub-objects (YAML aliases) count once per
    reference, so an alias bomb stops at the limit instead of blowing up.
    """
    fields = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise ApiError(400, f"the body is nested deeper than {max_depth} levels")
        for child in children:
            fields += 1
            if fields > max_fields:
                raise ApiError(400, f"the body has more than {max_fields} fields")
            stack.append((child, depth + 1))


# -- form encoding (PHP parse_str) --------------------------------------------------


def parse_urlencoded(
    body: bytes | str, *, max_depth: int = MAX_DEPTH, max_fields: int = MAX_FIELDS
) -> dict[str, Any]:
    """Decode ``application/x-www-form-urlencoded`` by PHP's ``parse_str`` rules."""
    raw = body.encode() if isinstance(body, str) else body
    return php_fields(_form_pairs(raw, max_fields), max_depth=max_depth, max_fields=max_fields)


def _form_pairs(body: bytes, max_fields: int) -> Iterator[tuple[str, str]]:
    count = 0
    for chunk in body.split(b"&"):
        if not chunk:
            continue
        count += 1
        if count > max_fields:
            raise ApiError(400, f"the body has more than {max_fields} fields")
        name, _, value = chunk.partition(b"=")
        name_text = _utf8(_unescape(name), f"field {count}'s name")
        yield name_text, _utf8(_unescape(value), f"the value of field {name_text!r}")


def _unescape(raw: bytes) -> bytes:
    return unquote_to_bytes(raw.replace(b"+", b" "))


def php_fields(
    pairs: Iterable[tuple[str, str]], *, max_depth: int = MAX_DEPTH, max_fields: int = MAX_FIELDS
) -> dict[str, Any]:
    """Build nested fields from (bracket-notation name, value) pairs, as PHP does."""
    root = _PhpArray()
    for count, (name, value) in enumerate(pairs, start=1):
        if count > max_fields:
            raise ApiError(400, f"the body has more than {max_fields} fields")
        path = php_name_path(name)
        if path is None:
            continue
        if len(path) > max_depth:
            raise ApiError(400, f"field {name!r} is nested deeper than {max_depth} levels")
        root.assign(path, value)
    return {str(key): _finish(child) for key, child in root.items.items()}


def php_name_path(name: str) -> list[str | None] | None:
    """Split ``a[b][]`` into ``["a", "b", None]`` (None: append); None to skip the name."""
    name = name.split("\0", 1)[0].lstrip(" ")
    bracket = name.find("[")
    base = name if bracket < 0 else name[:bracket]
    if not base:
        return None
    base = _mangle(base)
    indexes: list[str | None] = []
    pos = bracket
    while pos >= 0:
        close = name.find("]", pos + 1)
        if close < 0:
            if not indexes:  # PHP: an unclosed first "[" is part of the name, as "_"
                base = _mangle(f"{base}_{name[pos + 1 :]}", "[")
            break
        inner = name[pos + 1 : close]
        # PHP skips one whitespace character after "[", so "a[ ]" appends like "a[]".
        indexes.append(None if inner == "" or inner in _C_SPACES else inner)
        pos = close + 1 if name[close + 1 : close + 2] == "[" else -1
    return [base, *indexes]


def _mangle(name: str, also: str = "") -> str:
    """PHP variable names cannot hold spaces or dots (nor "[" outside an index)."""
    for char in " ." + also:
        name = name.replace(char, "_")
    return name


def _php_key(index: str) -> int | str:
    if _PHP_INT_KEY.match(index):
        number = int(index)
        if _PHP_INT_MIN <= number <= _PHP_INT_MAX:
            return number
    return index


class _PhpArray:
    """A PHP array while it is being built: ordered keys and the next free index."""

    __slots__ = ("items", "next_index")

    def __init__(self) -> None:
        self.items: dict[int | str, Any] = {}
        self.next_index: int | None = None  # None: no integer key yet, so [] appends at 0

    def put(self, index: str | None, value: Any) -> None:
        if index is None:
            key: int | str = 0 if self.next_index is None else self.next_index
        else:
            key = _php_key(index)
        self.items[key] = value
        if isinstance(key, int) and (self.next_index is None or key >= self.next_index):
            self.next_index = key + 1

    def child(self, index: str | None) -> _PhpArray:
        if index is not None:
            existing = self.items.get(_php_key(index))
            if isinstance(existing, _PhpArray):
                return existing
        array = _PhpArray()
        self.put(index, array)
        return array

    def assign(self, path: list[str | None], value: str) -> None:
        node = self
        for index in path[:-1]:
            node = node.child(index)
        node.put(path[-1], value)


def _finish(node: Any) -> Any:
    if not isinstance(node, _PhpArray):
        return node
    keys = list(node.items)
    values = [_finish(v) for v in node.items.values()]
    if keys == list(range(len(keys))):
        return values
    return {str(key): value for key, value in zip(keys, values, strict=True)}


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{what} is not valid UTF-8") from None


# -- multipart -------------------------------------------------------------------------


async def _read_multipart(
    request: web.Request, max_size: int, max_depth: int, max_fields: int
) -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > max_size:
        raise _too_large(max_size)
    pairs: list[tuple[str, str]] = []
    try:
        reader = await request.multipart()
        size = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "nested multipart bodies are not accepted")
            if len(pairs) >= max_fields:
                raise ApiError(400, f"the body has more than {max_fields} fields")
            name = part.name
            if name is None:
                raise ApiError(400, f"multipart part {len(pairs) + 1} has no field name")
            if part.filename is not None:
                raise ApiError(
                    400,
                    f"file uploads are not accepted here (part {name!r} is a file); "
                    "upload files to the case's input-document endpoint",
                )
            data = bytearray()
            while chunk := await part.read_chunk(CHUNK_SIZE):
                data += chunk
                if size + len(name) + len(data) > max_size:
                    raise _too_large(max_size)
            size += len(name) + len(data)
            pairs.append((name, _utf8(bytes(part.decode(bytes(data))), f"field {name!r}")))
    except (ValueError, RuntimeError, AssertionError, HttpProcessingError) as exc:
        raise ApiError(400, f"the multipart body is malformed: {exc}") from None
    return php_fields(pairs, max_depth=max_depth, max_fields=max_fields)
