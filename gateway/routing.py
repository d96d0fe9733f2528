"""Which service owns which path: one ordered table, first match wins.

Services serve the same paths the gateway does, so the gateway forwards the
path unchanged. More specific rows come before the catch-all of their family.
"""

from __future__ import annotations

import re

WS = r"[^/]+"  # a ProcessMaker workspace name
CASE = r"[^/]+"

ROUTE_TABLE: tuple[tuple[str, str], ...] = (
    # ProcessMaker 3: notes and documents of a case belong to their own services.
    (rf"^/api/1\.0/{WS}/cases/{CASE}/notes?(/.*)?$", "notes"),
    (rf"^/api/1\.0/{WS}/cases/{CASE}/(input|output)-documents?(/.*)?$", "documents"),
    (rf"^/api/1\.0/{WS}/cases/{CASE}/[^/]+/input-document/.*$", "documents"),
    (rf"^/api/1\.0/{WS}/.*$", "cases"),
    (rf"^/{WS}/oauth2/token$", "cases"),
    # Trackops case updates.
    (r"^/api/v1/case/updates(/.*)?$", "notes"),
    # TheHive task logs and their attachments.
    (r"^/api/case/task/.*$", "notes"),
    (r"^/api/datastore(zip)?/.*$", "documents"),
    # Kibana cases, with or without a space prefix.
    (r"^(/s/[^/]+)?/api/cases/.*$", "documents"),
    # Casemesh's own endpoints.
    (r"^/casemesh/v1/pings(/.*)?$", "cases"),
    (r"^/casemesh/v1/timeline(/.*)?$", "notes"),
    (r"^/casemesh/v1/notifications(/.*)?$", "notifications"),
)

_COMPILED = tuple((re.compile(pattern), service) for pattern, service in ROUTE_TABLE)
# Services' internal endpoints (/internal/…) are for the gateway's own calls, and a
# path with "." or ".." segments could be resolved to one further along.
_NEVER = re.compile(r"^/internal(/|$)|(^|/)\.{1,2}(/|$)")


def service_for(path: str) -> str | None:
    if _NEVER.search(path):
        return None
    for pattern, service in _COMPILED:
        if pattern.match(path):
            return service
    return None
