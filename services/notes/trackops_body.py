"""Trackops case-update bodies: checked, typed and sanitised (pure, no I/O).

``body`` keeps the basic HTML the seed allows (bold, italic, underline,
lists, links, paragraphs, line breaks) through nh3 (ammonia); every other
tag and every attribute but a link's ``href``/``title`` is removed. Titles
and timeline notes are plain text: all tags are stripped.
"""

from __future__ import annotations

import re
from typing import Any

import nh3

from casemesh.web.errors import plain_json_error

BODY_TAGS = {"b", "strong", "i", "em", "u", "p", "br", "ul", "ol", "li", "a"}
BODY_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
REQUIRED = ("casefile_id", "access_group_id", "title", "body")
INTEGERS = ("casefile_id", "subject_id", "event_id", "access_group_id", "behalf_of_id", "thread_id")
BOOLEANS = ("is_allday", "is_validated")
KNOWN = frozenset({*INTEGERS, *BOOLEANS, "title", "body", "activity_at", "update_details"})
MAX_TITLE = 255
MAX_BODY = 65_536
MAX_DETAILS = 200
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


class Invalid(Exception):
    """Validation failed: ``errors`` maps each field to its messages (answered 422)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors

    def response(self):
        return plain_json_error(422, "the update is not valid", errors=self.errors)


def clean_body(html: str) -> str:
    return nh3.clean(
        html,
        tags=BODY_TAGS,
        attributes=BODY_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def plain(text: str) -> str:
    """Text with every tag removed (entities stay escaped)."""
    return nh3.clean(text, tags=set(), attributes={})


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 16:
        return int(value.strip())
    return None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
    return None


def read_update(raw: Any, *, creating: bool) -> dict[str, Any]:
    """The ``update`` object -> checked, cleaned fields (only those given)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise Invalid({"update": ["the fields must be nested under an 'update' object"]})
    for key in raw:
        if key not in KNOWN:
            errors.setdefault(str(key)[:50], []).append("is not a field of a case update")
    out: dict[str, Any] = {}
    if creating:
        for name in REQUIRED:
            if raw.get(name) in (None, ""):
                errors.setdefault(name, []).append("is required")
    for name in INTEGERS:
        if raw.get(name) not in (None, ""):
            number = _int(raw[name])
            if number is None or number < 1:
                errors.setdefault(name, []).append("must be a positive integer")
            else:
                out[name] = number
    for name in BOOLEANS:
        if name in raw and raw[name] is not None:
            flag = parse_bool(raw[name])
            if flag is None:
                errors.setdefault(name, []).append("must be true or false")
            else:
                out[name] = flag
    if raw.get("title") not in (None, ""):
        title = raw["title"]
        if not isinstance(title, str) or len(title) > MAX_TITLE or not plain(title).strip():
            errors.setdefault("title", []).append(f"must be text of 1 to {MAX_TITLE} characters")
        else:
            out["title"] = plain(title).strip()
    if raw.get("body") not in (None, ""):
        body = raw["body"]
        if not isinstance(body, str) or len(body) > MAX_BODY:
            errors.setdefault("body", []).append(f"must be text of at most {MAX_BODY} characters")
        elif not clean_body(body).strip():
            errors.setdefault("body", []).append("has no content once unsafe HTML is removed")
        else:
            out["body"] = clean_body(body)
    if raw.get("activity_at") not in (None, ""):
        when = raw["activity_at"]
        if not isinstance(when, str) or not (_DATE.match(when) or _DATETIME.match(when)):
            errors.setdefault("activity_at", []).append("must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
        else:
            out["activity_at"] = when
    if "update_details" in raw and raw["update_details"] is not None:
        details = _details(raw["update_details"], errors)
        if details is not None:
            out["update_details"] = details
    if errors:
        raise Invalid(errors)
    return out


def _details(raw: Any, errors: dict[str, list[str]]) -> list[dict] | None:
    if not isinstance(raw, list) or len(raw) > MAX_DETAILS:
        errors.setdefault("update_details", []).append(f"must be a list of at most {MAX_DETAILS}")
        return None
    out = []
    for i, item in enumerate(raw):
        where = f"update_details.{i}"
        if not isinstance(item, dict) or set(item) - {"start_at", "notes"}:
            errors.setdefault(where, []).append("must be an object with start_at and notes")
            continue
        start, notes = item.get("start_at", ""), item.get("notes", "")
        if not isinstance(start, str) or not _TIME.match(start):
            errors.setdefault(f"{where}.start_at", []).append("must be HH:MM")
        if not isinstance(notes, str) or len(notes) > MAX_BODY:
            errors.setdefault(f"{where}.notes", []).append("must be text")
            continue
        out.append({"start_at": start, "notes": plain(notes)})
    return out
