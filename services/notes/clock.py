"""Time as the notes service stores and shows it: UTC, microsecond ISO strings.

Stored times are ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` so they sort as text and a
bare date (``2015-01-31``) compares correctly against them.
"""

from __future__ import annotations

from datetime import UTC, datetime

STORED = "%Y-%m-%dT%H:%M:%S.%fZ"
PM_FORMAT = "%Y-%m-%d %H:%M:%S"


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STORED)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse(stored: str) -> datetime:
    return datetime.strptime(stored, STORED).replace(tzinfo=UTC)


def pm_date(stored: str) -> str:
    """ProcessMaker's ``YYYY-MM-DD HH:MM:SS``."""
    return parse(stored).strftime(PM_FORMAT)


def iso_utc(stored: str | None) -> str | None:
    """Trackops output: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return parse(stored).strftime("%Y-%m-%dT%H:%M:%SZ") if stored else None


def from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def read_timestamp(text: str) -> datetime:
    """A client's date or date-time (ISO, space or ``T``, optional zone; naive is UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
