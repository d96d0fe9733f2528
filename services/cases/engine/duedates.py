"""Task due dates: calendar time, or working time under a calendar.

Calendars have no time zone in the definition format: their hours and
holidays are read in UTC. With a calendar, a DAYS duration counts working
days of (end - start) hours each, so "1 day" from Friday 16:00 on a 09:00 to
17:00 calendar is Monday 16:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from services.cases.definitions.model import Calendar, Duration, DurationUnit

from .errors import EngineError

_MINUTES = {DurationUnit.MINUTES: 1, DurationUnit.HOURS: 60, DurationUnit.DAYS: 24 * 60}
_MAX_DAYS_SCANNED = 1_000_000  # a bound on the walk; the model allows up to 100,000 days


def due_date(
    start: datetime, duration: Duration | None, calendar: Calendar | None
) -> datetime | None:
    """When a task started at ``start`` is due; None without a duration.

    ``start`` must be timezone-aware; the result is in UTC.
    """
    if duration is None:
        return None
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("due_date needs a timezone-aware start")
    start = start.astimezone(UTC)
    try:
        if calendar is None:
            return start + timedelta(minutes=duration.value * _MINUTES[duration.unit])
        opens, closes = _clock(calendar.start), _clock(calendar.end)
        if duration.unit == DurationUnit.DAYS:
            day = datetime.combine(date.min, closes) - datetime.combine(date.min, opens)
            work = day * duration.value
        else:
            work = timedelta(minutes=duration.value * _MINUTES[duration.unit])
        return _add_working_time(start, work, calendar, opens, closes)
    except OverflowError:
        raise EngineError("the due date would be after the year 9999") from None


def _add_working_time(
    moment: datetime, work: timedelta, calendar: Calendar, opens: time, closes: time
) -> datetime:
    """Walk day by day from ``moment``, spending ``work`` inside working hours only."""
    working_days = set(calendar.working_days)
    holidays = set(calendar.holidays)
    day = moment.date()
    for _ in range(_MAX_DAYS_SCANNED):
        if day.isoweekday() in working_days and day not in holidays:
            begin = max(moment, datetime.combine(day, opens, UTC))
            end = datetime.combine(day, closes, UTC)
            if begin < end:
                if work <= end - begin:
                    return begin + work
                work -= end - begin
        day += timedelta(days=1)
    raise EngineError("the calendar has no working time left for this due date")


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
