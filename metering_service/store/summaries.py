"""Usage summaries from the hourly rollups (M-20, M-21), as mergeable partial states.

Whole hours of the range are read from ``meter_rollups``, aggregated in SQL per summary
window and dimension group; only the partial hours at the edges of a minute-aligned range
are read from raw events (of those hours only). The caller merges both with
``domain.aggregation.merge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

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


def _merge(first: RollupState | None, second: RollupState) -> RollupState:
    return second if first is None else merge(first, second)


def _rollup_aggregates(formula: Aggregation) -> tuple[str, str, str]:
    """The FROM clause over ``metering.meter_rollups r`` and the count and partial-state
    aggregates that merge a meter's rollup rows (M-20)."""
    if formula is Aggregation.UNIQUE_COUNT:
        return (
            "metering.meter_rollups r LEFT JOIN LATERAL unnest(r.distinct_values) WITH ORDINALITY u(v, n) ON true",
            "sum(r.event_count) FILTER (WHERE u.n = 1 OR u.n IS NULL)",
            "NULL, NULL, NULL, NULL, NULL, array_agg(DISTINCT v)",
        )
    state = (
        "max(r.maximum), min(r.minimum),"
        " (array_agg(r.last_timestamp ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1],"
        " (array_agg(r.last_seq ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1],"
        " (array_agg(r.last_value ORDER BY r.last_timestamp DESC NULLS LAST, r.last_seq DESC))[1], NULL"
        if formula in (Aggregation.LAST, Aggregation.MAX, Aggregation.MIN)
        else "NULL, NULL, NULL, NULL, NULL, NULL"
    )
    return "metering.meter_rollups r", "sum(r.event_count)", state


def _rollup_state(columns: Sequence[Any]) -> RollupState | None:
    """A merged state from the aggregates of ``_rollup_aggregates``; None without events."""
    event_count, total, maximum, minimum, last_ts, last_seq, last_value, distinct = columns
    if not event_count:
        return None
    return RollupState(
        event_count=int(event_count),
        total=total,
        maximum=maximum,
        minimum=minimum,
        latest=None if last_ts is None else LatestValue(last_ts, last_seq, last_value),
        distinct_values=frozenset(distinct or ()),
    )


# The ranges of ``range_states`` as a relation, from four parallel arrays.
_RANGES = """unnest(CAST(:idx AS int[]), CAST(:customer_ids AS text[]),
                    CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
             AS q(idx, customer_id, range_start, range_end)"""


class SummaryRepository:
    """The rollup and raw event reads of summaries, in one unit of work's transaction."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def rollup_states(
        self,
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
            states = await self._from_rollups(
                meter, customer_id, full_start, full_end, start, grouping, group_by
            )
            edges = [(start, full_start), (full_end, end)]
        else:
            edges = [(start, end)]
        for edge_start, edge_end in edges:
            if edge_start < edge_end:
                # Only ungrouped ranges have partial hours: grouped ones are hour-aligned.
                for dims, state in (
                    await self._from_events(meter, customer_id, edge_start, edge_end, group_by)
                ).items():
                    key = (start, dims)
                    states[key] = _merge(states.get(key), state)
        return states

    async def _from_rollups(
        self,
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
        source, count, state = _rollup_aggregates(meter.aggregation)
        query = f"""
            SELECT {keys}, {count}, sum(r.total), {state}
            FROM {source}
            WHERE r.meter_id = :meter_id AND r.customer_id = :customer_id
              AND r.hour >= :full_start AND r.hour < :full_end
            GROUP BY {keys}
        """
        rows = await self._session.execute(
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
            if (merged := _rollup_state(row[width:])) is not None:
                states[(row[0], tuple(row[1:width]))] = merged
        return states

    async def range_states(
        self, meter: Meter, ranges: Sequence[tuple[str, datetime, datetime]]
    ) -> list[RollupState | None]:
        """The state over the counted events of each (customer, start, end) range, ungrouped:
        what ``rollup_states`` gives each range with no grouping, for many ranges in two
        statements (a billing run's usage). ``start`` and ``end`` are minute-aligned."""
        whole: list[tuple[int, str, datetime, datetime]] = []
        partial: list[tuple[int, str, datetime, datetime]] = []
        for index, (customer_id, start, end) in enumerate(ranges):
            full_start, full_end = _ceil_hour(start), end.replace(minute=0, second=0, microsecond=0)
            if full_start < full_end:
                whole.append((index, customer_id, full_start, full_end))
                partial += [(index, customer_id, start, full_start), (index, customer_id, full_end, end)]
            else:
                partial.append((index, customer_id, start, end))
        states: list[RollupState | None] = [None] * len(ranges)
        source, count, state = _rollup_aggregates(meter.aggregation)
        for row in await self._over_ranges(
            meter,
            f"""SELECT q.idx, {count}, sum(r.total), {state}
                FROM {_RANGES} JOIN {source}
                  ON r.meter_id = :meter_id AND r.customer_id = q.customer_id
                 AND r.hour >= q.range_start AND r.hour < q.range_end
                GROUP BY q.idx""",
            whole,
        ):
            states[row[0]] = _rollup_state(row[1:])
        for row in await self._over_ranges(
            meter,
            f"""SELECT q.idx, e."timestamp", e.received_seq, e.value
                FROM {_RANGES} JOIN metering.meter_events e
                  ON e.meter_id = :meter_id AND e.customer_id = q.customer_id
                 AND e."timestamp" >= q.range_start AND e."timestamp" < q.range_end
                WHERE {COUNTED}""",
            [r for r in partial if r[2] < r[3]],
        ):
            index = row[0]
            event = rollup_of_event(RecordedEvent(ranges[index][0], row[1], row[2], row[3], {}))
            states[index] = _merge(states[index], event)
        return states

    async def _over_ranges(
        self, meter: Meter, query: str, ranges: Sequence[tuple[int, str, datetime, datetime]]
    ) -> Sequence[Any]:
        if not ranges:
            return []
        indexes, customer_ids, starts, ends = zip(*ranges, strict=True)
        rows = await self._session.execute(
            sa.text(query),
            {
                "meter_id": meter.id,
                "idx": list(indexes),
                "customer_ids": list(customer_ids),
                "starts": list(starts),
                "ends": list(ends),
            },
        )
        return rows.all()

    async def _from_events(
        self,
        meter: Meter,
        customer_id: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str],
    ) -> dict[tuple[str, ...], RollupState]:
        """The partial states of the counted raw events in [start, end), less than an hour."""
        dims = _dimension_columns(meter, group_by, "e")
        rows = await self._session.execute(
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
