from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.cases.definitions.model import Calendar, Duration
from services.cases.engine.duedates import due_date
from services.cases.engine.errors import EngineError

OFFICE = Calendar(uid="office")  # Monday to Friday, 09:00 to 17:00, UTC
FRIDAY = datetime(2024, 6, 7, 16, 0, tzinfo=UTC)
MONDAY = datetime(2024, 6, 10, 9, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=UTC)


def test_no_duration_no_due_date():
    assert due_date(FRIDAY, None, OFFICE) is None


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (Duration(value=2), FRIDAY + timedelta(days=2)),
        (Duration(value=90, unit="MINUTES"), FRIDAY + timedelta(minutes=90)),
        (Duration(value=1.5, unit="HOURS"), FRIDAY + timedelta(minutes=90)),
        (Duration(value=0.5, unit="DAYS"), FRIDAY + timedelta(hours=12)),
    ],
)
def test_calendar_time_without_a_calendar(duration, expected):
    assert due_date(FRIDAY, duration, None) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (FRIDAY, Duration(value=2, unit="HOURS"), at(10, 10)),  # over the weekend
        (FRIDAY, Duration(value=1, unit="DAYS"), at(10, 16)),  # 8 working hours
        (FRIDAY, Duration(value=30, unit="MINUTES"), at(7, 16, 30)),
        (MONDAY, Duration(value=8, unit="HOURS"), at(10, 17)),  # ends at closing time
        (MONDAY, Duration(value=5, unit="DAYS"), at(14, 17)),
        (MONDAY, Duration(value=0.5, unit="DAYS"), at(10, 13)),
        (at(10, 7), Duration(value=1, unit="HOURS"), at(10, 10)),  # before opening
        (at(10, 18), Duration(value=1, unit="HOURS"), at(11, 10)),  # after closing
        (at(8, 12), Duration(value=30, unit="MINUTES"), at(10, 9, 30)),  # on Saturday
        (at(7, 17), Duration(value=1, unit="MINUTES"), at(10, 9, 1)),  # at closing time
        (MONDAY, Duration(value=10, unit="DAYS"), at(21, 17)),  # two weeks
    ],
)
def test_working_time_with_a_calendar(start, duration, expected):
    assert due_date(start, duration, OFFICE) == expected


def test_holidays_are_skipped():
    calendar = Calendar(uid="c", holidays=(date(2024, 6, 10), date(2024, 6, 11)))
    assert due_date(FRIDAY, Duration(value=2, unit="HOURS"), calendar) == at(12, 10)
    assert due_date(FRIDAY, Duration(value=1, unit="DAYS"), calendar) == at(12, 16)


def test_custom_days_and_hours():
    # Sunday to Thursday, 08:00 to 12:30 (4.5 hours a day).
    calendar = Calendar(uid="c", working_days=(7, 1, 2, 3, 4), start="08:00", end="12:30")
    thursday = at(6, 12)
    assert due_date(thursday, Duration(value=1, unit="HOURS"), calendar) == at(9, 8, 30)
    assert due_date(thursday, Duration(value=1, unit="DAYS"), calendar) == at(9, 12)


def test_timezones_in_and_utc_out():
    paris = timezone(timedelta(hours=2))
    start = datetime(2024, 6, 7, 18, 0, tzinfo=paris)  # Friday 16:00 UTC
    result = due_date(start, Duration(value=2, unit="HOURS"), OFFICE)
    assert result == at(10, 10)
    assert result.utcoffset() == timedelta(0)
    assert due_date(start, Duration(value=1, unit="HOURS"), None).tzinfo == UTC


def test_a_naive_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        due_date(datetime(2024, 6, 7), Duration(value=1), None)


def test_a_due_date_past_year_9999():
    late = datetime(9999, 1, 1, tzinfo=UTC)
    with pytest.raises(EngineError, match="after the year 9999"):
        due_date(late, Duration(value=1000), None)
    with pytest.raises(EngineError, match="after the year 9999"):
        due_date(late, Duration(value=1000), OFFICE)


def test_the_longest_duration_is_quick():
    result = due_date(MONDAY, Duration(value=100_000), OFFICE)
    assert result is not None and result.year > 2400
