"""Stored times read back: the fast paths give what strptime/strftime gave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.notes import clock


def test_pm_date_and_parse_agree_with_the_formats():
    moments = [
        datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 0, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 22, 9, 5, 7, 1, tzinfo=timezone(timedelta(hours=-5))),
    ]
    for moment in moments:
        stored = clock.stamp(moment)
        assert stored == moment.astimezone(UTC).strftime(clock.STORED)
        assert clock.parse(stored) == moment
        assert clock.parse(stored).tzinfo == UTC
        expected = datetime.strptime(stored, clock.STORED).strftime(clock.PM_FORMAT)
        assert clock.pm_date(stored) == expected
    assert clock.pm_date("2026-11-22T04:05:06Z") == "2026-11-22 04:05:06"  # not the stored form
    assert clock.iso_utc(clock.stamp(moments[0])) == "2024-02-29T23:59:58Z"
