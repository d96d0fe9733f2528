"""The gateway fetching a download from the object store itself (nginx's X-Accel-Redirect).

Without it, every byte of a download crosses two Casemesh processes: the
documents service reads it from S3 and the gateway relays it. With it:

1. the gateway forwards a GET to the documents service with ``OFFER_HEADER``
   ("I can fetch object-store URLs myself");
2. the documents service does every check it always does (rights, 404,
   ``If-None-Match``, ``If-Range``, ``Range``, 416) and, when its object
   store can give a short-lived URL, answers with the final status (200 or
   206) and headers, an empty body, the URL in ``URL_HEADER`` and the bytes
   to fetch in ``RANGE_HEADER``;
3. the gateway GETs that range from the URL and streams it to the client
   under the documents service's status and headers.

Headers starting with ``X-Casemesh-`` are the gateway's: it drops them from
what clients send and from what it answers them.
"""

from __future__ import annotations

import re

OFFER_HEADER = "X-Casemesh-Direct-Fetch"
URL_HEADER = "X-Casemesh-Fetch-Url"
RANGE_HEADER = "X-Casemesh-Fetch-Range"
# Long enough for the gateway to open the GET (S3 checks the expiry only when
# a request starts), short enough that a URL seen in a log is soon useless.
URL_LIFETIME = 120.0

_RANGE = re.compile(r"^(\d{1,19})-(\d{1,19})$")


def format_range(offset: int, length: int) -> str:
    """``first-last`` (inclusive, as in HTTP's ``Range: bytes=``) of ``length`` bytes."""
    return f"{offset}-{offset + length - 1}"


def parse_range(value: str) -> tuple[int, int] | None:
    """(offset, length) of a ``RANGE_HEADER`` value, None if malformed."""
    match = _RANGE.match(value.strip())
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    if last < first:
        return None
    return first, last - first + 1
