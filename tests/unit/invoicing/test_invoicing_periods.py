"""Billing period arithmetic from a billing-cycle anchor (I-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing_service.domain.periods import Interval, Period, next_period, period_containing


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def period_starts(anchor: datetime, interval: Interval, count: int, how_many: int) -> list[datetime]:
    period = period_containing(anchor, interval, count, anchor)
    starts = []
    for _ in range(how_many):
        starts.append(period.start)
        period = next_period(anchor, interval, count, period)
    return starts


class TestMonthEnds:
    def test_jan_31_anchor_clamps_to_feb_28_and_returns_to_the_31st(self):
        assert period_starts(utc(2023, 1, 31), Interval.MONTH, 1, 5) == [
            utc(2023, 1, 31),
            utc(2023, 2, 28),
            utc(2023, 3, 31),
            utc(2023, 4, 30),
            utc(2023, 5, 31),
        ]

    def test_leap_year_february_has_29_days(self):
        assert period_starts(utc(2024, 1, 31), Interval.MONTH, 1, 3) == [
            utc(2024, 1, 31),
            utc(2024, 2, 29),
            utc(2024, 3, 31),
        ]

    def test_the_30th_stays_the_30th_after_february(self):
        assert period_starts(utc(2023, 1, 30), Interval.MONTH, 1, 4)[1:] == [
            utc(2023, 2, 28),
            utc(2023, 3, 30),
            utc(2023, 4, 30),
        ]

    def test_quarterly_from_nov_30(self):
        assert period_starts(utc(2023, 11, 30), Interval.MONTH, 3, 4) == [
            utc(2023, 11, 30),
            utc(2024, 2, 29),
            utc(2024, 5, 30),
            utc(2024, 8, 30),
        ]

    def test_crosses_the_year(self):
        assert period_containing(utc(2024, 1, 31), Interval.MONTH, 1, utc(2025, 1, 1)) == Period(
            utc(2024, 12, 31), utc(2025, 1, 31)
        )

    def test_anchor_time_of_day_is_kept(self):
        anchor = utc(2024, 1, 31, 15, 30, 5)
        assert period_starts(anchor, Interval.MONTH, 1, 2)[1] == utc(2024, 2, 29, 15, 30, 5)


class TestYears:
    def test_feb_29_anchor_falls_on_feb_28_in_common_years(self):
        assert period_starts(utc(2024, 2, 29), Interval.YEAR, 1, 5) == [
            utc(2024, 2, 29),
            utc(2025, 2, 28),
            utc(2026, 2, 28),
            utc(2027, 2, 28),
            utc(2028, 2, 29),
        ]


class TestDaysAndWeeks:
    def test_daily_periods_cross_month_ends(self):
        assert period_starts(utc(2024, 2, 28, 12), Interval.DAY, 1, 3) == [
            utc(2024, 2, 28, 12),
            utc(2024, 2, 29, 12),
            utc(2024, 3, 1, 12),
        ]

    def test_every_ten_days(self):
        assert period_containing(utc(2024, 1, 1), Interval.DAY, 10, utc(2024, 1, 25)) == Period(
            utc(2024, 1, 21), utc(2024, 1, 31)
        )

    def test_fortnightly(self):
        assert period_containing(utc(2024, 1, 1), Interval.WEEK, 2, utc(2024, 1, 15)) == Period(
            utc(2024, 1, 15), utc(2024, 1, 29)
        )


class TestContainment:
    def test_a_boundary_starts_the_new_period(self):
        anchor = utc(2024, 1, 31)
        assert period_containing(anchor, Interval.MONTH, 1, utc(2024, 2, 29)).start == utc(2024, 2, 29)
        before = utc(2024, 2, 29) - timedelta(microseconds=1)
        assert period_containing(anchor, Interval.MONTH, 1, before).end == utc(2024, 2, 29)

    def test_times_before_the_anchor_have_periods_too(self):
        assert period_containing(utc(2024, 3, 15), Interval.MONTH, 1, utc(2024, 1, 20)) == Period(
            utc(2024, 1, 15), utc(2024, 2, 15)
        )

    def test_other_timezones_are_read_as_the_same_instant_in_utc(self):
        tokyo = timezone(timedelta(hours=9))
        period = period_containing(datetime(2024, 2, 1, 8, tzinfo=tokyo), Interval.MONTH, 1, utc(2024, 3, 5))
        assert period == Period(utc(2024, 2, 29, 23), utc(2024, 3, 31, 23))
        assert period.start.tzinfo is UTC

    def test_naive_times_are_refused(self):
        with pytest.raises(ValueError, match="naive"):
            period_containing(datetime(2024, 1, 1), Interval.DAY, 1, utc(2024, 1, 2))

    def test_interval_count_must_be_positive(self):
        with pytest.raises(ValueError):
            period_containing(utc(2024, 1, 1), Interval.DAY, 0, utc(2024, 1, 2))

    def test_a_period_cannot_end_before_it_starts(self):
        with pytest.raises(ValueError):
            Period(utc(2024, 1, 2), utc(2024, 1, 1))

    def test_contains_is_half_open(self):
        period = Period(utc(2024, 1, 1), utc(2024, 2, 1))
        assert period.contains(utc(2024, 1, 1))
        assert not period.contains(utc(2024, 2, 1))


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
schedules = st.sampled_from(
    [
        (Interval.DAY, 1),
        (Interval.DAY, 365),
        (Interval.WEEK, 1),
        (Interval.WEEK, 52),
        (Interval.MONTH, 1),
        (Interval.MONTH, 3),
        (Interval.MONTH, 12),
        (Interval.YEAR, 1),
    ]
)


@given(anchor=moments, schedule=schedules, at=moments)
def test_periods_tile_time_without_gaps_or_overlaps(anchor, schedule, at):
    interval, count = schedule
    period = period_containing(anchor, interval, count, at)
    assert period.start <= at < period.end
    following = next_period(anchor, interval, count, period)
    assert following.start == period.end < following.end
    assert period_containing(anchor, interval, count, period.start) == period
    assert period_containing(anchor, interval, count, period.end - timedelta(microseconds=1)) == period
    assert period_containing(anchor, interval, count, period.end) == following


@given(anchor=moments, at=moments, count=st.integers(1, 12))
def test_month_boundaries_keep_the_anchor_day_clamped_and_time_of_day(anchor, at, count):
    start = period_containing(anchor, Interval.MONTH, count, at).start
    assert start.time() == anchor.time()
    if start.day != anchor.day:
        assert start.day < anchor.day
        assert (start + timedelta(days=1)).month != start.month  # clamped to the month's last day
    months_from_anchor = (start.year - anchor.year) * 12 + start.month - anchor.month
    assert months_from_anchor % count == 0
