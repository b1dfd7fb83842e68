"""The usage summary use case (M-20, M-21): validate, read rollup states, shape and page the rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.db.engine import Database
from drawdown.errors import DomainError, InvalidArgument, for_batch_entry
from drawdown.pagination import decode_page_token, next_page, page_size
from metering_service.domain import reasons
from metering_service.domain.aggregation import RollupState, SummaryRow, rollup_value
from metering_service.domain.meters import Meter, TimeWindow
from metering_service.domain.windows import (
    SummaryQuery,
    page_end,
    summary_windows,
    validate_summary_query,
    window_bounds,
)
from metering_service.store.summaries import GroupKey
from metering_service.store.unit import MeteringUnit

_ZERO = Decimal(0)


@dataclass(frozen=True)
class SummaryRequest:
    """One summary query as the API asks it (M-20)."""

    meter_id: str
    customer_id: str
    start: datetime | None
    end: datetime | None
    grouping: TimeWindow | None
    group_by: Sequence[str]
    page_size: int
    page_token: str


# Queries one BatchListMeterEventSummaries call may ask.
MAX_BATCH_QUERIES = 1000


class Summaries:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def list(self, request: SummaryRequest) -> tuple[list[SummaryRow], str]:
        """One page of summary rows, equal to ``domain.aggregation.summarize`` over the counted events.

        Rows: every window when there is no group_by (empty ones with value 0), else only
        the (window, group) pairs with counted events; in window then group order. The
        page token holds the last row's (window start, group values); the next page reads
        only from that window on.
        """
        async with self._database.unit_of_work() as uow:
            page = await _prepare(uow, {}, request)
            return page.rows(await page.states(uow))

    async def batch(self, requests: Sequence[SummaryRequest]) -> list[tuple[list[SummaryRow], str]]:
        """A page for each query, in order, all read from one snapshot; the first query
        that fails fails the batch, named by its index. Ungrouped first pages (a billing
        run's usage) are read a meter at a time, in two statements."""
        if len(requests) > MAX_BATCH_QUERIES:
            raise InvalidArgument.for_field(
                "requests", f"at most {MAX_BATCH_QUERIES} queries per call", reason=reasons.BATCH_TOO_LARGE
            )
        meters: dict[str, Meter] = {}
        pages: list[_Page] = []
        async with self._database.unit_of_work() as uow:
            await uow.read_from_one_snapshot()
            for index, request in enumerate(requests):
                try:
                    pages.append(await _prepare(uow, meters, request))
                except DomainError as error:
                    raise for_batch_entry(error, index) from None
            states: dict[int, dict[GroupKey, RollupState]] = {}
            totals: dict[str, list[int]] = {}
            for index, page in enumerate(pages):
                if page.is_total:
                    totals.setdefault(page.meter.id, []).append(index)
                else:
                    states[index] = await page.states(uow)
            for meter_id, indexes in totals.items():
                ranges = [
                    (pages[i].query.customer_id, pages[i].query.start, pages[i].query.end) for i in indexes
                ]
                for index, state in zip(
                    indexes, await uow.summaries.range_states(meters[meter_id], ranges), strict=True
                ):
                    states[index] = {} if state is None else {(pages[index].query.start, ()): state}
        return [page.rows(states[index]) for index, page in enumerate(pages)]


@dataclass(frozen=True)
class _Page:
    """A validated summary query and the part of it one page reads."""

    meter: Meter
    query: SummaryQuery
    filters: list[Any]
    size: int
    after: list[Any] | None
    read_from: datetime

    @property
    def is_total(self) -> bool:
        """One row for the whole range, none of it read yet."""
        return self.query.grouping_window is None and not self.query.group_by and self.after is None

    async def states(self, uow: MeteringUnit) -> dict[GroupKey, RollupState]:
        query = self.query
        # Without group_by every window is a row, so a page reads at most its own windows
        # (one more to know there is a next page, one more for the token's own window).
        read_to = query.end if query.group_by else page_end(query, self.read_from, self.size + 2)
        return await uow.summaries.rollup_states(
            self.meter,
            query.customer_id,
            self.read_from,
            read_to,
            query.grouping_window,
            query.group_by,
        )

    def rows(self, states: dict[GroupKey, RollupState]) -> tuple[list[SummaryRow], str]:
        """The page's rows from the states of its (window, group) keys.

        Windows are walked only until the page and one row more are found: a range of
        millions of windows costs what its page costs (X-7).
        """
        query, meter = self.query, self.meter
        groups_of_window: dict[datetime, list[tuple[str, ...]]] = {}
        for window_start, dims in states:
            groups_of_window.setdefault(window_start, []).append(dims)
        if query.group_by:
            # Only windows with events have rows: walk those, not the whole range.
            windows = [window_bounds(query, start) for start in sorted(groups_of_window)]
        else:
            windows = summary_windows(query, self.read_from)
        last = None if self.after is None else (self.after[0], tuple(self.after[1:]))
        rows: list[SummaryRow] = []
        for window_start, window_end in windows:
            if len(rows) > self.size:
                break
            # Without group_by every window has its row, events or not (M-21).
            groups = sorted(groups_of_window.get(window_start, [])) or [()]
            for dims in groups:
                if last is not None and (window_start, dims) <= last:
                    continue
                state = states.get((window_start, dims))
                value = None if state is None else rollup_value(meter.aggregation, state)
                rows.append(
                    SummaryRow(
                        window_start,
                        window_end,
                        dict(zip(query.group_by, dims, strict=True)),
                        value if value is not None else _ZERO,
                        0 if state is None else state.event_count,
                    )
                )
        return next_page(rows, self.size, lambda row: [row.start, *row.dimensions.values()], self.filters)


async def _prepare(uow: MeteringUnit, meters: dict[str, Meter], request: SummaryRequest) -> _Page:
    """The request validated against its meter; ``meters`` caches the meters already read."""
    meter = meters.get(request.meter_id) or await uow.meters.get(request.meter_id)
    meters[meter.id] = meter
    query = validate_summary_query(
        meter,
        customer_id=request.customer_id,
        start=request.start,
        end=request.end,
        grouping_window=request.grouping,
        group_by=request.group_by,
    )
    filters = [meter.id, request.customer_id, query.start, query.end, request.grouping, *query.group_by]
    size, after = page_size(request.page_size), decode_page_token(request.page_token, filters)
    read_from = query.start if after is None or query.grouping_window is None else after[0]
    return _Page(meter, query, filters, size, after, read_from)
