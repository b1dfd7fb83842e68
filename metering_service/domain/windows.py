"""Usage summary queries and UTC time windows (M-17, M-20).

Windows are half-open ``[start, end)`` and aligned in UTC: an hour window starts at minute
0, a day window at 00:00 UTC. Datetimes must be timezone-aware; they are read in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from drawdown.clock import ensure_utc
from drawdown.errors import InvalidArgument
from metering_service.domain import reasons
from metering_service.domain.meters import Meter, TimeWindow

WINDOW_LENGTHS = {TimeWindow.HOUR: timedelta(hours=1), TimeWindow.DAY: timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class SummaryQuery:
    """A validated usage summary query: one customer's usage of one meter over [start, end)."""

    customer_id: str
    start: datetime
    end: datetime
    grouping_window: TimeWindow | None
    group_by: tuple[str, ...]


def validate_summary_query(
    meter: Meter,
    *,
    customer_id: str,
    start: datetime | None,
    end: datetime | None,
    grouping_window: TimeWindow | None = None,
    group_by: Sequence[str] = (),
) -> SummaryQuery:
    """The query in UTC, or INVALID_ARGUMENT naming the first bad field (M-20).

    customer_id is required. start_time and end_time are required (INVALID_TIME_RANGE),
    minute-aligned, and hour- or day-aligned when grouped by that window (TIME_NOT_ALIGNED,
    naming the field), and start < end (INVALID_TIME_RANGE). Each group_by key is one of
    the meter's dimension keys (UNKNOWN_DIMENSION); a key listed twice counts once.
    Inactive meters can be queried: their recorded usage still bills.
    """
    if not customer_id:
        raise InvalidArgument.for_field("customer_id", "is required")
    if start is None or end is None:
        field = "start_time" if start is None else "end_time"
        raise InvalidArgument.for_field(field, "is required", reason=reasons.INVALID_TIME_RANGE)
    start = ensure_utc(start)
    end = ensure_utc(end)
    _check_aligned("start_time", start, grouping_window)
    _check_aligned("end_time", end, grouping_window)
    if start >= end:
        raise InvalidArgument.for_field(
            "end_time", "must be after start_time", reason=reasons.INVALID_TIME_RANGE
        )
    for index, key in enumerate(group_by):
        if key not in meter.dimension_keys:
            raise InvalidArgument.for_field(
                f"group_by[{index}]",
                f"{key!r} is not a dimension key of meter {meter.id}",
                reason=reasons.UNKNOWN_DIMENSION,
            )
    return SummaryQuery(customer_id, start, end, grouping_window, tuple(dict.fromkeys(group_by)))


def window_start(moment: datetime, window: TimeWindow) -> datetime:
    """The start of the UTC hour or day that contains ``moment``."""
    moment = ensure_utc(moment)
    if window is TimeWindow.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def summary_windows(
    query: SummaryQuery, read_from: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The query's windows in order: every UTC hour or day of [start, end), or the range itself (M-21).

    Produced one at a time, so a caller that stops after a page costs a page, however long
    the range (0001-01-01 to 9999-12-31 by hour is 87 million windows). ``read_from``, a
    window start of the query, skips the windows before it. A validated query's bounds are
    aligned to its grouping window, so the windows tile the range exactly.
    """
    if query.grouping_window is None:
        yield query.start, query.end
        return
    length = WINDOW_LENGTHS[query.grouping_window]
    window = query.start if read_from is None else max(query.start, read_from)
    while window < query.end:
        yield window, window + length
        window += length


def window_bounds(query: SummaryQuery, start: datetime) -> tuple[datetime, datetime]:
    """The window of ``query`` that starts at ``start``."""
    if query.grouping_window is None:
        return query.start, query.end
    return start, start + WINDOW_LENGTHS[query.grouping_window]


def page_end(query: SummaryQuery, read_from: datetime, windows: int) -> datetime:
    """The end of the first ``windows`` windows from ``read_from``, at most the query's end."""
    if query.grouping_window is None:
        return query.end
    span = WINDOW_LENGTHS[query.grouping_window] * windows
    return query.end if query.end - read_from <= span else read_from + span


def _check_aligned(field: str, moment: datetime, grouping_window: TimeWindow | None) -> None:
    if moment.second or moment.microsecond:
        raise InvalidArgument.for_field(field, "must be a whole minute", reason=reasons.TIME_NOT_ALIGNED)
    if grouping_window is not None and window_start(moment, grouping_window) != moment:
        raise InvalidArgument.for_field(
            field,
            f"must start a UTC {grouping_window} when grouping by {grouping_window}",
            reason=reasons.TIME_NOT_ALIGNED,
        )
