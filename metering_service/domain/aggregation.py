"""Aggregation formulas, pre-aggregation, usage summaries and rollup states (M-2, M-17, M-21).

This is the reference, written to be obviously correct rather than fast: it reads every
event for every window. The store answers summaries from incremental rollups instead, and
its tests compare those answers with ``summarize``.

Summary rows, as meter_event_service.proto documents them:
- Without group_by: one row per window (or one for the whole range), empty windows
  included with value 0 and event_count 0, whatever the formula.
- With group_by: one row per window and combination of dimension values that has counted
  events. An event lacking a dimension groups under "".
- Rows are ordered by window start, then by the group-by values in code-point order.
- Only counted events take part: recorded, not cancelled (callers leave cancelled events
  out) and, for pre-aggregated meters, not superseded (M-17). Supersession is decided per
  customer and meter window before the summary range applies, so a superseded event never
  counts, whatever range is asked for.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, Inexact
from typing import NamedTuple, TypeVar

from drawdown.money import MONEY_CONTEXT
from metering_service.domain.meters import Aggregation, Meter
from metering_service.domain.windows import SummaryQuery, summary_windows, window_start

# Sums must be exact. Event values fit NUMERIC(30, 15) (events.py), so 50 digits leave room
# for 10^20 of them and this trap never fires in practice.
_EXACT = MONEY_CONTEXT.copy()
_EXACT.traps[Inexact] = True
_ZERO = Decimal(0)
_T = TypeVar("_T")


class RecordedEvent(NamedTuple):
    """A recorded, not cancelled event as aggregation sees it.

    ``received_seq`` is the event's place in the meter's receipt order, strictly increasing
    (events of one batch in request order): it breaks ``last`` ties on equal timestamps and
    decides which event counts under M-17. ``dimensions`` maps dimension keys to values
    (the whole payload will do); a missing key groups as "".
    """

    customer_id: str
    timestamp: datetime
    received_seq: int
    value: Decimal
    dimensions: Mapping[str, str]


class SummaryRow(NamedTuple):
    """One row of a usage summary (M-21): a window, its group's dimension values, the aggregate.

    ``event_count`` tells an empty window (value 0, no events) from a real zero.
    """

    start: datetime
    end: datetime
    dimensions: dict[str, str]
    value: Decimal
    event_count: int


def aggregate(formula: Aggregation, events: Iterable[RecordedEvent]) -> Decimal | None:
    """The formula's value over the events (M-2).

    ``sum``: exact total (0 for no events). ``count``: number of events, values ignored (0
    for none). ``last``: value of the latest event by timestamp, later receipt winning a
    tie. ``max``/``min``: largest/smallest value. ``unique_count``: number of distinct
    values, compared numerically ("1.0" equals "1"). ``last``, ``max`` and ``min`` of no
    events have no value: None.
    """
    events = list(events)
    values = [event.value for event in events]
    if formula is Aggregation.SUM:
        return functools.reduce(_EXACT.add, values, _ZERO)
    if formula is Aggregation.COUNT:
        return Decimal(len(events))
    if formula is Aggregation.UNIQUE_COUNT:
        return Decimal(len(set(values)))
    if not events:
        return None
    if formula is Aggregation.MAX:
        return max(values)
    if formula is Aggregation.MIN:
        return min(values)
    return max(events, key=lambda event: (event.timestamp, event.received_seq)).value


def counted_events(meter: Meter, events: Iterable[RecordedEvent]) -> list[RecordedEvent]:
    """The events that count towards the meter's usage (M-17).

    Without an event_time_window, all of them. With one, only the most recently received
    event of each customer in each UTC hour or day: pre-aggregated usage reports replace,
    not add to, earlier reports for the same window.
    """
    if meter.event_time_window is None:
        return list(events)
    latest: dict[tuple[str, datetime], RecordedEvent] = {}
    for event in events:
        key = (event.customer_id, window_start(event.timestamp, meter.event_time_window))
        if key not in latest or event.received_seq > latest[key].received_seq:
            latest[key] = event
    return list(latest.values())


def summarize(meter: Meter, events: Iterable[RecordedEvent], query: SummaryQuery) -> list[SummaryRow]:
    """The rows ListMeterEventSummaries returns for ``query`` (M-20, M-21), before paging.

    ``events`` are the meter's recorded, not cancelled events (any customers). Each row
    aggregates, under the meter's formula, the counted events of the query's customer in
    its window and group. See the module docstring for which rows exist and their order.
    """
    customer_events = [
        event for event in counted_events(meter, events) if event.customer_id == query.customer_id
    ]
    rows = []
    for start, end in summary_windows(query):
        groups: defaultdict[tuple[str, ...], list[RecordedEvent]] = defaultdict(list)
        if not query.group_by:
            groups[()] = []  # the window's row exists even when no event falls in it
        for event in customer_events:
            if start <= event.timestamp < end:
                groups[tuple(event.dimensions.get(key, "") for key in query.group_by)].append(event)
        for group_values in sorted(groups):
            group_events = groups[group_values]
            value = aggregate(meter.aggregation, group_events)
            dimensions = dict(zip(query.group_by, group_values, strict=True))
            rows.append(
                SummaryRow(start, end, dimensions, _ZERO if value is None else value, len(group_events))
            )
    return rows


class LatestValue(NamedTuple):
    """The value of the latest event seen, with what makes it the latest (for ``last``)."""

    timestamp: datetime
    received_seq: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class RollupState:
    """A mergeable partial aggregate of the events in one bucket (e.g. customer x hour x dimensions).

    Each field merges on its own, so a store keeps only the fields its meter's formula reads:

    ======================  ====================  ==========================================
    formula                 field                 merge
    ======================  ====================  ==========================================
    (all)                   ``event_count``       addition; 0 means the bucket is empty
    ``count``               ``event_count``       addition
    ``sum``                 ``total``             addition
    ``max`` / ``min``       ``maximum`` / ...     max / min (None is "no value yet")
    ``last``                ``latest``            the later by (timestamp, received_seq)
    ``unique_count``        ``distinct_values``   set union
    ======================  ====================  ==========================================

    ``count`` and ``sum`` can also be undone by subtraction, so cancelling an event (M-16)
    or superseding one (M-17) updates them in place; the other formulas must recompute
    the bucket from its remaining counted events.
    """

    event_count: int = 0
    total: Decimal = _ZERO
    maximum: Decimal | None = None
    minimum: Decimal | None = None
    latest: LatestValue | None = None
    distinct_values: frozenset[Decimal] = frozenset()


EMPTY_ROLLUP = RollupState()


def rollup_of_event(event: RecordedEvent) -> RollupState:
    """The rollup state of a bucket holding just ``event``."""
    return RollupState(
        event_count=1,
        total=event.value,
        maximum=event.value,
        minimum=event.value,
        latest=LatestValue(event.timestamp, event.received_seq, event.value),
        distinct_values=frozenset([event.value]),
    )


def merge(first: RollupState, second: RollupState) -> RollupState:
    """The state of the union of two disjoint buckets.

    Associative and commutative, with EMPTY_ROLLUP as identity, so buckets merge in any order.
    """
    return RollupState(
        event_count=first.event_count + second.event_count,
        total=_EXACT.add(first.total, second.total),
        maximum=_pick(max, first.maximum, second.maximum),
        minimum=_pick(min, first.minimum, second.minimum),
        latest=_pick(_later, first.latest, second.latest),
        distinct_values=first.distinct_values | second.distinct_values,
    )


def rollup(events: Iterable[RecordedEvent]) -> RollupState:
    """The rollup state of a bucket holding ``events``, built as a store would: one event at a time."""
    return functools.reduce(merge, map(rollup_of_event, events), EMPTY_ROLLUP)


def rollup_value(formula: Aggregation, state: RollupState) -> Decimal | None:
    """The formula's value from a state; equal to ``aggregate`` over the bucket's events (M-2)."""
    if formula is Aggregation.SUM:
        return state.total
    if formula is Aggregation.COUNT:
        return Decimal(state.event_count)
    if formula is Aggregation.UNIQUE_COUNT:
        return Decimal(len(state.distinct_values))
    if formula is Aggregation.MAX:
        return state.maximum
    if formula is Aggregation.MIN:
        return state.minimum
    return None if state.latest is None else state.latest.value


def _pick(choose: Callable[[_T, _T], _T], first: _T | None, second: _T | None) -> _T | None:
    if first is None:
        return second
    if second is None:
        return first
    return choose(first, second)


def _later(first: LatestValue, second: LatestValue) -> LatestValue:
    return max(first, second, key=lambda latest: (latest.timestamp, latest.received_seq))
