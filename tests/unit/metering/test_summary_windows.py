"""Summary query validation (M-20) and UTC windows (M-17, M-21)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from drawdown.errors import InvalidArgument
from metering_service.domain.meters import Meter, TimeWindow
from metering_service.domain.windows import (
    SummaryQuery,
    summary_windows,
    validate_summary_query,
    window_start,
)

MARCH_1 = datetime(2025, 3, 1, tzinfo=UTC)
TOKYO = timezone(timedelta(hours=9))


def query(
    meter: Meter,
    start: datetime | None = MARCH_1,
    end: datetime | None = MARCH_1 + timedelta(days=31),
    grouping_window: TimeWindow | None = None,
    group_by: tuple[str, ...] = (),
    customer_id: str = "cus_jenny",
) -> SummaryQuery:
    return validate_summary_query(
        meter,
        customer_id=customer_id,
        start=start,
        end=end,
        grouping_window=grouping_window,
        group_by=group_by,
    )


def refusal(meter: Meter, **arguments: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        query(meter, **arguments)  # type: ignore[arg-type]
    return caught.value


def assert_refused(error: InvalidArgument, reason: str, field: str) -> None:
    assert (error.reason, [violation.field for violation in error.field_violations]) == (reason, [field])


def test_valid_query_is_returned_in_utc(tokens_meter: Meter) -> None:
    start = datetime(2025, 3, 1, 9, 0, tzinfo=TOKYO)
    validated = query(tokens_meter, start=start, end=start + timedelta(hours=2), group_by=("model",))
    assert validated == SummaryQuery("cus_jenny", MARCH_1, MARCH_1 + timedelta(hours=2), None, ("model",))
    assert validated.start.tzinfo is UTC


def test_customer_is_required(tokens_meter: Meter) -> None:
    assert_refused(refusal(tokens_meter, customer_id=""), "INVALID_ARGUMENT", "customer_id")


@pytest.mark.parametrize(
    ("arguments", "field"), [({"start": None}, "start_time"), ({"end": None}, "end_time")]
)
def test_start_and_end_are_required(tokens_meter: Meter, arguments: dict[str, object], field: str) -> None:
    assert_refused(refusal(tokens_meter, **arguments), "INVALID_TIME_RANGE", field)


@pytest.mark.parametrize("end_offset", [timedelta(0), -timedelta(minutes=1)])
def test_start_must_be_before_end(tokens_meter: Meter, end_offset: timedelta) -> None:
    assert_refused(refusal(tokens_meter, end=MARCH_1 + end_offset), "INVALID_TIME_RANGE", "end_time")


def test_one_minute_is_the_shortest_range(tokens_meter: Meter) -> None:
    assert query(tokens_meter, end=MARCH_1 + timedelta(minutes=1)).end == MARCH_1 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"start": MARCH_1 + timedelta(seconds=30)}, "start_time"),
        ({"start": MARCH_1 + timedelta(microseconds=1)}, "start_time"),
        ({"end": MARCH_1 + timedelta(days=1, seconds=1)}, "end_time"),
    ],
)
def test_bounds_must_be_whole_minutes(tokens_meter: Meter, arguments: dict[str, object], field: str) -> None:
    assert_refused(refusal(tokens_meter, **arguments), "TIME_NOT_ALIGNED", field)


def test_minute_aligned_bounds_suffice_without_grouping(tokens_meter: Meter) -> None:
    start = MARCH_1 + timedelta(minutes=7)
    assert query(tokens_meter, start=start, end=start + timedelta(minutes=1)).start == start


@pytest.mark.parametrize(
    ("grouping_window", "arguments", "field"),
    [
        (TimeWindow.HOUR, {"start": MARCH_1 + timedelta(minutes=1)}, "start_time"),
        (TimeWindow.HOUR, {"end": MARCH_1 + timedelta(hours=1, minutes=30)}, "end_time"),
        (TimeWindow.DAY, {"start": MARCH_1 + timedelta(hours=1)}, "start_time"),
        (TimeWindow.DAY, {"end": MARCH_1 + timedelta(days=1, hours=23)}, "end_time"),
        (TimeWindow.DAY, {"start": datetime(2025, 3, 1, tzinfo=TOKYO)}, "start_time"),
    ],
)
def test_grouped_bounds_must_align_to_the_utc_window(
    tokens_meter: Meter, grouping_window: TimeWindow, arguments: dict[str, object], field: str
) -> None:
    error = refusal(tokens_meter, grouping_window=grouping_window, **arguments)
    assert_refused(error, "TIME_NOT_ALIGNED", field)


def test_hour_aligned_bounds_suffice_for_hourly_grouping(tokens_meter: Meter) -> None:
    start = MARCH_1 + timedelta(hours=5)
    validated = query(
        tokens_meter, start=start, end=start + timedelta(hours=3), grouping_window=TimeWindow.HOUR
    )
    assert validated.grouping_window is TimeWindow.HOUR


def test_group_by_must_name_the_meters_dimensions(tokens_meter: Meter) -> None:
    assert_refused(refusal(tokens_meter, group_by=("model", "region")), "UNKNOWN_DIMENSION", "group_by[1]")
    assert_refused(refusal(tokens_meter, group_by=("customer_id",)), "UNKNOWN_DIMENSION", "group_by[0]")


def test_a_group_by_key_listed_twice_counts_once(tokens_meter: Meter) -> None:
    assert query(tokens_meter, group_by=("model", "model")).group_by == ("model",)


@pytest.mark.parametrize(
    ("moment", "window", "expected"),
    [
        (
            datetime(2025, 3, 1, 13, 59, 59, 999999, tzinfo=UTC),
            TimeWindow.HOUR,
            datetime(2025, 3, 1, 13, tzinfo=UTC),
        ),
        (datetime(2025, 3, 1, 13, tzinfo=UTC), TimeWindow.HOUR, datetime(2025, 3, 1, 13, tzinfo=UTC)),
        (datetime(2025, 3, 1, 23, 59, tzinfo=UTC), TimeWindow.DAY, MARCH_1),
        (datetime(2025, 3, 2, 8, 30, tzinfo=TOKYO), TimeWindow.DAY, MARCH_1),
        (datetime(2025, 3, 2, 8, 30, tzinfo=TOKYO), TimeWindow.HOUR, datetime(2025, 3, 1, 23, tzinfo=UTC)),
    ],
)
def test_window_start_floors_in_utc(moment: datetime, window: TimeWindow, expected: datetime) -> None:
    assert window_start(moment, window) == expected
    assert window_start(moment, window).tzinfo is UTC


def test_windows_without_grouping_is_the_whole_range(tokens_meter: Meter) -> None:
    start = MARCH_1 + timedelta(minutes=7)
    validated = query(tokens_meter, start=start, end=start + timedelta(minutes=90))
    assert list(summary_windows(validated)) == [(start, start + timedelta(minutes=90))]


def test_hourly_windows_tile_the_range(tokens_meter: Meter) -> None:
    validated = query(tokens_meter, end=MARCH_1 + timedelta(hours=3), grouping_window=TimeWindow.HOUR)
    hours = [MARCH_1 + timedelta(hours=offset) for offset in range(4)]
    assert list(summary_windows(validated)) == list(itertools.pairwise(hours))


def test_daily_windows_are_utc_days_across_a_month_end(tokens_meter: Meter) -> None:
    start = datetime(2025, 2, 27, tzinfo=UTC)
    validated = query(
        tokens_meter, start=start, end=MARCH_1 + timedelta(days=1), grouping_window=TimeWindow.DAY
    )
    days = [
        datetime(2025, 2, 27, tzinfo=UTC),
        datetime(2025, 2, 28, tzinfo=UTC),
        MARCH_1,
        datetime(2025, 3, 2, tzinfo=UTC),
    ]
    assert list(summary_windows(validated)) == list(itertools.pairwise(days))
