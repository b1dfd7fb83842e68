"""Formulas (M-2), pre-aggregation (M-17), summaries (M-21) and rollup merging."""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drawdown.money import MONEY_CONTEXT
from metering_service.domain.aggregation import (
    EMPTY_ROLLUP,
    RecordedEvent,
    RollupState,
    SummaryRow,
    aggregate,
    counted_events,
    merge,
    rollup,
    rollup_value,
    summarize,
)
from metering_service.domain.meters import Aggregation, Meter, TimeWindow
from metering_service.domain.windows import (
    SummaryQuery,
    summary_windows,
    validate_summary_query,
    window_start,
)
from tests.unit.metering.meter_builders import JENNY, make_meter

MARCH_1 = datetime(2025, 3, 1, tzinfo=UTC)
DIMENSION_KEYS = ("model", "region")


def at(hours: float) -> datetime:
    return MARCH_1 + timedelta(hours=hours)


def event(hours: float, seq: int, value: str, customer: str = JENNY, **dimensions: str) -> RecordedEvent:
    return RecordedEvent(customer, at(hours), seq, Decimal(value), dimensions)


def summary(
    meter: Meter,
    events: list[RecordedEvent],
    start: datetime = MARCH_1,
    end: datetime = MARCH_1 + timedelta(days=1),
    grouping_window: TimeWindow | None = None,
    group_by: tuple[str, ...] = (),
) -> list[SummaryRow]:
    query = validate_summary_query(
        meter, customer_id=JENNY, start=start, end=end, grouping_window=grouping_window, group_by=group_by
    )
    return summarize(meter, events, query)


# --- formulas (M-2) -----------------------------------------------------------------------

EVENTS = [event(1, 1, "5"), event(3, 2, "-2"), event(2, 3, "5.0"), event(0.5, 4, "7")]


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (Aggregation.SUM, Decimal(15)),
        (Aggregation.COUNT, Decimal(4)),
        (Aggregation.LAST, Decimal(-2)),
        (Aggregation.MAX, Decimal(7)),
        (Aggregation.MIN, Decimal(-2)),
        (Aggregation.UNIQUE_COUNT, Decimal(3)),
    ],
)
def test_each_formula(formula: Aggregation, expected: Decimal) -> None:
    assert aggregate(formula, EVENTS) == expected


def test_last_is_by_timestamp_then_receipt_order() -> None:
    assert aggregate(Aggregation.LAST, [event(2, 1, "1"), event(1, 2, "2")]) == 1
    assert aggregate(Aggregation.LAST, [event(2, 2, "1"), event(2, 1, "2")]) == 1


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (Aggregation.SUM, Decimal(0)),
        (Aggregation.COUNT, Decimal(0)),
        (Aggregation.UNIQUE_COUNT, Decimal(0)),
        (Aggregation.LAST, None),
        (Aggregation.MAX, None),
        (Aggregation.MIN, None),
    ],
)
def test_formulas_of_no_events(formula: Aggregation, expected: Decimal | None) -> None:
    assert aggregate(formula, []) == expected


def test_sum_is_exact_at_the_value_bounds() -> None:
    events = [
        event(0, 1, "999999999999999"),
        event(0, 2, "0.000000000000001"),
        event(0, 3, "999999999999999"),
    ]
    assert aggregate(Aggregation.SUM, events) == Decimal("1999999999999998.000000000000001")


# --- summaries (M-21) ---------------------------------------------------------------------


def test_hypernian_period_total() -> None:
    events = [event(1, 1, "1000"), event(5, 2, "1500"), event(23.9, 3, "500")]
    assert summary(make_meter(), events) == [
        SummaryRow(MARCH_1, MARCH_1 + timedelta(days=1), {}, Decimal(3000), 3)
    ]


def test_range_is_half_open_and_other_customers_do_not_count() -> None:
    events = [
        event(0, 1, "1"),
        event(24, 2, "10"),
        event(-0.001, 3, "100"),
        event(1, 4, "1000", customer="cus_other"),
    ]
    assert [(row.value, row.event_count) for row in summary(make_meter(), events)] == [(Decimal(1), 1)]


@pytest.mark.parametrize("formula", list(Aggregation))
def test_empty_windows_have_a_zero_row_without_group_by(formula: Aggregation) -> None:
    events = [event(1.5, 1, "2"), event(1.7, 2, "3")]
    rows = summary(make_meter(formula), events, end=at(3), grouping_window=TimeWindow.HOUR)
    assert [(row.start, row.end, row.event_count) for row in rows] == [
        (at(0), at(1), 0),
        (at(1), at(2), 2),
        (at(2), at(3), 0),
    ]
    assert rows[0].value == rows[2].value == 0
    assert summary(make_meter(formula), []) == [
        SummaryRow(MARCH_1, MARCH_1 + timedelta(days=1), {}, Decimal(0), 0)
    ]


def test_a_zero_sum_of_real_events_is_told_apart_by_its_count() -> None:
    [row] = summary(make_meter(), [event(1, 1, "5"), event(2, 2, "-5")])
    assert (row.value, row.event_count) == (0, 2)


def test_with_group_by_only_groups_with_events_have_rows() -> None:
    meter = make_meter(dimension_keys=DIMENSION_KEYS)
    events = [
        event(1, 1, "1", model="b"),
        event(1, 2, "2", model="a", region="eu"),
        event(2, 3, "4"),
        event(3, 4, "8", model="a"),
    ]
    rows = summary(meter, events, end=at(24), grouping_window=TimeWindow.DAY, group_by=("model",))
    assert [(row.dimensions, row.value, row.event_count) for row in rows] == [
        ({"model": ""}, 4, 1),
        ({"model": "a"}, 10, 2),
        ({"model": "b"}, 1, 1),
    ]
    assert summary(meter, [], end=at(24), grouping_window=TimeWindow.DAY, group_by=("model",)) == []


def test_an_empty_dimension_value_groups_with_a_missing_one() -> None:
    events = [event(1, 1, "1", model=""), event(2, 2, "2")]
    assert [(row.dimensions, row.value) for row in summary(make_meter(), events, group_by=("model",))] == [
        ({"model": ""}, 3)
    ]


def test_group_by_two_dimensions_orders_by_window_then_values() -> None:
    meter = make_meter(dimension_keys=DIMENSION_KEYS)
    events = [
        event(1, 1, "1", model="a", region="us"),
        event(1, 2, "2", model="a"),
        event(0, 3, "4", region="eu"),
    ]
    rows = summary(meter, events, end=at(2), grouping_window=TimeWindow.HOUR, group_by=("model", "region"))
    assert [(row.start, row.dimensions) for row in rows] == [
        (at(0), {"model": "", "region": "eu"}),
        (at(1), {"model": "a", "region": ""}),
        (at(1), {"model": "a", "region": "us"}),
    ]


# --- pre-aggregation (M-17) ---------------------------------------------------------------


def test_pre_aggregated_window_counts_only_its_latest_received_event() -> None:
    meter = make_meter(event_time_window=TimeWindow.HOUR)
    events = [event(1.1, 1, "10"), event(1.9, 3, "30"), event(1.5, 2, "20"), event(2.2, 4, "7")]
    assert [(row.value, row.event_count) for row in summary(meter, events)] == [(Decimal(37), 2)]


def test_pre_aggregation_is_per_customer() -> None:
    meter = make_meter(event_time_window=TimeWindow.DAY)
    events = [event(1, 1, "10"), event(2, 2, "99", customer="cus_other")]
    assert [row.value for row in summary(meter, events)] == [Decimal(10)]


def test_a_superseded_event_never_counts_even_when_its_successor_is_outside_the_range() -> None:
    meter = make_meter(event_time_window=TimeWindow.DAY)
    events = [event(1, 1, "10"), event(20, 2, "12")]
    assert [(row.value, row.event_count) for row in summary(meter, events, end=at(12))] == [(0, 0)]


def test_without_a_window_every_event_counts() -> None:
    events = [event(1, 1, "10"), event(1, 2, "10")]
    assert counted_events(make_meter(), events) == events


# --- properties ---------------------------------------------------------------------------

values = st.one_of(
    st.sampled_from([Decimal(0), Decimal(1), Decimal("1.0"), Decimal(-2), Decimal("2.50")]),
    st.builds(
        lambda units, places: Decimal(units).scaleb(-places),
        st.integers(-(10**15) + 1, 10**15 - 1),
        st.integers(0, 15),
    ),
)
# A few fixed instants make timestamp ties (for `last`) likely.
timestamps = st.one_of(
    st.sampled_from([at(1), at(1.5), at(30)]),
    st.integers(0, 3 * 24 * 3600 - 1).map(lambda seconds: MARCH_1 + timedelta(seconds=seconds)),
)
dimension_maps = st.fixed_dictionaries(
    {}, optional={"model": st.sampled_from(["", "a", "b"]), "region": st.sampled_from(["eu", "us"])}
)
formulas = st.sampled_from(Aggregation)


@st.composite
def recorded_events(draw: st.DrawFn, max_size: int = 30) -> list[RecordedEvent]:
    """Events of two customers over three days, received in an order unrelated to their timestamps."""
    drafts = draw(
        st.lists(
            st.tuples(st.sampled_from([JENNY, "cus_other"]), timestamps, values, dimension_maps),
            max_size=max_size,
        )
    )
    receipt_order = draw(st.permutations(range(len(drafts))))
    return [
        RecordedEvent(customer, timestamp, seq, value, dimensions)
        for (customer, timestamp, value, dimensions), seq in zip(drafts, receipt_order, strict=True)
    ]


@given(formula=formulas, events=recorded_events(), shuffle=st.randoms(use_true_random=False))
def test_merging_hourly_rollups_equals_aggregating_raw_events(
    formula: Aggregation, events: list[RecordedEvent], shuffle: random.Random
) -> None:
    hours: defaultdict[datetime, list[RecordedEvent]] = defaultdict(list)
    for recorded in events:
        hours[window_start(recorded.timestamp, TimeWindow.HOUR)].append(recorded)
    states = [rollup(bucket) for bucket in hours.values()]
    shuffle.shuffle(states)
    merged = functools.reduce(merge, states, EMPTY_ROLLUP)
    assert rollup_value(formula, merged) == aggregate(formula, events)
    assert merged.event_count == len(events)


@given(events=recorded_events(), cuts=st.lists(st.integers(0, 30), min_size=2, max_size=2).map(sorted))
def test_merge_is_associative_and_commutative_with_empty_as_identity(
    events: list[RecordedEvent], cuts: list[int]
) -> None:
    # Three disjoint buckets of one meter's events: receipt sequence numbers never repeat.
    a, b, c = rollup(events[: cuts[0]]), rollup(events[cuts[0] : cuts[1]]), rollup(events[cuts[1] :])
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, b) == merge(b, a)
    assert merge(a, EMPTY_ROLLUP) == a == merge(EMPTY_ROLLUP, a)


def test_rollup_of_no_events_is_empty() -> None:
    assert rollup([]) == EMPTY_ROLLUP == RollupState()


summary_shapes = st.tuples(
    st.integers(0, 48),  # start hour
    st.integers(1, 48),  # hours long
    st.sampled_from([None, TimeWindow.HOUR]),
    st.sampled_from([(), ("model",), ("region", "model")]),
)


@given(
    formula=formulas,
    event_time_window=st.sampled_from([None, TimeWindow.HOUR, TimeWindow.DAY]),
    events=recorded_events(),
    shape=summary_shapes,
)
def test_summaries_from_hourly_rollups_equal_the_reference(
    formula: Aggregation,
    event_time_window: TimeWindow | None,
    events: list[RecordedEvent],
    shape: tuple[int, int, TimeWindow | None, tuple[str, ...]],
) -> None:
    """What the store does: roll counted events up per customer x hour x group, merge per window."""
    start_hour, length, grouping_window, group_by = shape
    meter = make_meter(formula, dimension_keys=DIMENSION_KEYS, event_time_window=event_time_window)
    query = validate_summary_query(
        meter,
        customer_id=JENNY,
        start=at(start_hour),
        end=at(start_hour + length),
        grouping_window=grouping_window,
        group_by=group_by,
    )

    buckets: defaultdict[tuple[str, datetime, tuple[str, ...]], RollupState] = defaultdict(RollupState)
    for recorded in counted_events(meter, events):
        key = (
            recorded.customer_id,
            window_start(recorded.timestamp, TimeWindow.HOUR),
            tuple(recorded.dimensions.get(dimension, "") for dimension in group_by),
        )
        buckets[key] = merge(buckets[key], rollup([recorded]))

    expected = []
    for start, end in summary_windows(query):
        per_group: defaultdict[tuple[str, ...], RollupState] = defaultdict(RollupState)
        if not group_by:
            per_group[()] = EMPTY_ROLLUP
        for (customer, hour, group), state in buckets.items():
            if customer == JENNY and start <= hour < end:
                per_group[group] = merge(per_group[group], state)
        for group, state in sorted(per_group.items()):
            value = rollup_value(formula, state)
            dimensions = dict(zip(group_by, group, strict=True))
            expected.append(
                SummaryRow(start, end, dimensions, Decimal(0) if value is None else value, state.event_count)
            )

    assert summarize(meter, events, query) == expected


@given(events=recorded_events(), window=st.sampled_from(TimeWindow))
def test_pre_aggregated_sum_is_the_sum_of_each_windows_latest_report(
    events: list[RecordedEvent], window: TimeWindow
) -> None:
    meter = make_meter(event_time_window=window)
    latest_report: dict[datetime, Decimal] = {}
    for recorded in sorted(events, key=lambda recorded: recorded.received_seq):
        if recorded.customer_id == JENNY:
            latest_report[window_start(recorded.timestamp, window)] = recorded.value
    query = SummaryQuery(JENNY, MARCH_1, MARCH_1 + timedelta(days=3), None, ())
    with localcontext(MONEY_CONTEXT):
        total = sum(latest_report.values(), Decimal(0))
    assert summarize(meter, events, query) == [
        SummaryRow(query.start, query.end, {}, total, len(latest_report))
    ]
