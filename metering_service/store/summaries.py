"""Usage summaries from the hourly rollups (M-20, M-21), as mergeable partial states.

Whole hours of the range are read from ``meter_rollups``, aggregated in SQL per summary
window and dimension group; only the partial hours at the edges of a minute-aligned range
are read from raw events (of those hours only). The caller merges both with
``domain.aggregation.merge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from metering_service.domain.aggregation import (
    LatestValue,
    RecordedEvent,
    RollupState,
    merge,
    rollup_of_event,
)
from metering_service.domain.meters import Aggregation, Meter, TimeWindow
from metering_service.store.events import COUNTED

_HOUR = timedelta(hours=1)

GroupKey = tuple[datetime, tuple[str, ...]]
"""A summary row's window start and its group-by values."""


def _ceil_hour(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + _HOUR


def _dimension_columns(meter: Meter, group_by: Sequence[str], table: str) -> list[str]:
    # PostgreSQL arrays are 1-based.
    return [f"{table}.dimension_values[{meter.dimension_keys.index(key) + 1}]" for key in group_by]


async def rollup_states(
    session: AsyncSession,
    meter: Meter,
    customer_id: str,
    start: datetime,
    end: datetime,
    grouping: TimeWindow | None,
    group_by: Sequence[str],
) -> dict[GroupKey, RollupState]:
    """The partial state of every (window, group) over the counted events in [start, end).

    Without a grouping window every key's window start is ``start``. ``start`` and ``end``
    are minute-aligned, and aligned to the grouping window when there is one.
    """
    full_start, full_end = _ceil_hour(start), end.replace(minute=0, second=0, microsecond=0)
    states: dict[GroupKey, RollupState] = {}
    if full_start < full_end:
        states = await _from_rollups(
            session, meter, customer_id, full_start, full_end, start, grouping, group_by
        )
        edges = [(start, full_start), (full_end, end)]
    else:
        edges = [(start, end)]
    for edge_start, edge_end in edges:
        if edge_start < edge_end:
            # Only ungrouped ranges have partial hours: grouped ones are hour-aligned.
            for dims, state in (
                await _from_events(session, meter, customer_id, edge_start, edge_end, group_by)
            ).items():
                key = (start, dims)
                states[key] = _merge(states.get(key), state)
    return states


def _merge(first: RollupState | None, second: RollupState) -> RollupState:
    return second if first is None else merge(first, second)


async def _from_rollups(
    session: AsyncSession,
    meter: Meter,
    customer_id: str,
    full_start: datetime,
    full_end: datetime,
    range_start: datetime,
    grouping: TimeWindow | None,
    group_by: Sequence[str],
) -> dict[GroupKey, RollupState]:
    if grouping is None:
        window = "CAST(:range_start AS timestamptz)"
    elif grouping is TimeWindow.HOUR:
        window = "r.hour"
    else:
        window = "date_trunc('day', r.hour, 'UTC')"
    dims = _dimension_columns(meter, group_by, "r")
    keys = ", ".join([window, *dims])
    formula = meter.aggregation
    if formula is Aggregation.UNIQUE_COUNT:
        state = "NULL, NULL, NULL, NULL, NULL, array_agg(DISTINCT v)"
        source = "metering.meter_rollups r LEFT JOIN LATERAL unnest(r.distinct_values) WITH ORDINALITY u(v, n) ON true"
        count = "sum(r.event_count) FILTER (WHERE u.n = 1 OR u.n IS NULL)"
    else:
        source = "metering.meter_rollups r"
        count = "sum(r.event_count)"
        state = (
            "max(r.maximum), min(r.minimum),"
            " (array_agg(r.last_timestamp ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1],"
            " (array_agg(r.last_seq ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1],"
            " (array_agg(r.last_value ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1], NULL"
            if formula in (Aggregation.LAST, Aggregation.MAX, Aggregation.MIN)
            else "NULL, NULL, NULL, NULL, NULL, NULL"
        )
    query = f"""
        SELECT {keys}, {count}, sum(r.total), {state}
        FROM {source}
        WHERE r.meter_id = :meter_id AND r.customer_id = :customer_id
          AND r.hour >= :full_start AND r.hour < :full_end
        GROUP BY {keys}
    """
    rows = await session.execute(
        sa.text(query),
        {
            "meter_id": meter.id,
            "customer_id": customer_id,
            "full_start": full_start,
            "full_end": full_end,
            "range_start": range_start,
        },
    )
    width = 1 + len(dims)
    states = {}
    for row in rows:
        event_count, total, maximum, minimum, last_ts, last_seq, last_value, distinct = row[width:]
        if not event_count:
            continue
        states[(row[0], tuple(row[1:width]))] = RollupState(
            event_count=int(event_count),
            total=total,
            maximum=maximum,
            minimum=minimum,
            latest=None if last_ts is None else LatestValue(last_ts, last_seq, last_value),
            distinct_values=frozenset(distinct or ()),
        )
    return states


async def _from_events(
    session: AsyncSession,
    meter: Meter,
    customer_id: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[str],
) -> dict[tuple[str, ...], RollupState]:
    """The partial states of the counted raw events in [start, end), less than an hour."""
    dims = _dimension_columns(meter, group_by, "e")
    rows = await session.execute(
        sa.text(
            f"""
            SELECT e."timestamp", e.received_seq, e.value {"".join(", " + d for d in dims)}
            FROM metering.meter_events e
            WHERE e.meter_id = :meter_id AND e.customer_id = :customer_id
              AND e."timestamp" >= :start AND e."timestamp" < :end AND {COUNTED}
            """
        ),
        {"meter_id": meter.id, "customer_id": customer_id, "start": start, "end": end},
    )
    states: dict[tuple[str, ...], RollupState] = {}
    for row in rows:
        state = rollup_of_event(RecordedEvent(customer_id, row[0], row[1], row[2], {}))
        key = tuple(row[3:])
        states[key] = _merge(states.get(key), state)
    return states
