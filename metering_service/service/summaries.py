"""The usage summary use case (M-20, M-21): validate, read rollup states, shape and page the rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from drawdown.db.engine import Database
from drawdown.pagination import decode_page_token, next_page, page_size
from metering_service.domain.aggregation import SummaryRow, rollup_value
from metering_service.domain.meters import TimeWindow
from metering_service.domain.windows import SummaryQuery, summary_windows, validate_summary_query
from metering_service.store import meters as meters_store
from metering_service.store.summaries import rollup_states

_ZERO = Decimal(0)


class Summaries:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def list(
        self,
        meter_id: str,
        customer_id: str,
        start: datetime | None,
        end: datetime | None,
        grouping: TimeWindow | None,
        group_by: Sequence[str],
        requested_size: int,
        token: str,
    ) -> tuple[list[SummaryRow], str]:
        """One page of summary rows, equal to ``domain.aggregation.summarize`` over the counted events.

        Rows: every window when there is no group_by (empty ones with value 0), else only
        the (window, group) pairs with counted events; in window then group order. The
        page token holds the last row's (window start, group values); the next page reads
        only from that window on.
        """
        async with self._database.unit_of_work() as uow:
            meter = await meters_store.get_meter(uow.session, meter_id)
            query = validate_summary_query(
                meter,
                customer_id=customer_id,
                start=start,
                end=end,
                grouping_window=grouping,
                group_by=group_by,
            )
            filters = [meter_id, customer_id, query.start, query.end, grouping, *query.group_by]
            size, after = page_size(requested_size), decode_page_token(token, filters)
            read_from = query.start if after is None or query.grouping_window is None else after[0]
            states = await rollup_states(
                uow.session, meter, customer_id, read_from, query.end, query.grouping_window, query.group_by
            )
        groups_of_window: dict[datetime, list[tuple[str, ...]]] = {}
        for window_start, dims in states:
            groups_of_window.setdefault(window_start, []).append(dims)
        rows = []
        for window_start, window_end in _windows_from(query, read_from):
            # Without group_by every window has its row, events or not (M-21).
            groups = sorted(groups_of_window.get(window_start, [])) or ([] if query.group_by else [()])
            for dims in groups:
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
        if after is not None:
            last = (after[0], tuple(after[1:]))
            rows = [row for row in rows if (row.start, tuple(row.dimensions.values())) > last]
        return next_page(rows, size, lambda row: [row.start, *row.dimensions.values()], filters)


def _windows_from(query: SummaryQuery, read_from: datetime) -> list[tuple[datetime, datetime]]:
    return [(start, end) for start, end in summary_windows(query) if end > read_from]
