"""Property: every summary equals the naive recomputation of domain.aggregation (M-13..M-21).

Random sequences of batches (new events, duplicates, conflicting replays, events late in
time) and cancellations, on meters of every formula with and without pre-aggregation, go
through a real server; the reference model keeps the stored events and asks
``domain.aggregation.summarize`` for the expected rows. Hypothesis runs in a worker thread
while the servers keep the test's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from metering_service.domain.aggregation import RecordedEvent, summarize
from metering_service.domain.meters import Aggregation, TimeWindow, validate_new_meter
from metering_service.domain.windows import validate_summary_query
from tests.integration.metering.metering_client import JENNY, NOW, Metering, event

BASE = NOW.replace(hour=0, minute=0) - timedelta(days=2)
LAST_MINUTE = (NOW - BASE) // timedelta(minutes=1)  # events up to NOW: none is refused as in the future
FORMULAS = {
    meter_pb2.AGGREGATION_FORMULA_SUM: Aggregation.SUM,
    meter_pb2.AGGREGATION_FORMULA_COUNT: Aggregation.COUNT,
    meter_pb2.AGGREGATION_FORMULA_LAST: Aggregation.LAST,
    meter_pb2.AGGREGATION_FORMULA_MAX: Aggregation.MAX,
    meter_pb2.AGGREGATION_FORMULA_MIN: Aggregation.MIN,
    meter_pb2.AGGREGATION_FORMULA_UNIQUE_COUNT: Aggregation.UNIQUE_COUNT,
}
WINDOWS = {
    0: None,
    meter_pb2.EVENT_TIME_WINDOW_HOUR: TimeWindow.HOUR,
    meter_pb2.EVENT_TIME_WINDOW_DAY: TimeWindow.DAY,
}

sends = st.tuples(
    st.just("send"),
    st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]),
    st.sampled_from(["1", "2", "2.0", "-3", "7.25"]),
    st.sampled_from([JENNY, "cus_other"]),
    st.integers(min_value=0, max_value=LAST_MINUTE),  # minutes after BASE
    st.sampled_from(["a", "b", None]),
)
cancels = st.tuples(st.just("cancel"), st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]))
scenarios = st.tuples(
    st.sampled_from(sorted(FORMULAS)),
    st.sampled_from(sorted(WINDOWS)),
    st.lists(st.lists(sends, min_size=1, max_size=6) | cancels, min_size=1, max_size=8),
    st.integers(min_value=0, max_value=3 * 24 * 60 - 2),
    st.integers(min_value=1, max_value=3 * 24 * 60),
)


@dataclass
class Stored:
    content: tuple[object, ...]
    recorded: RecordedEvent
    cancelled: bool = False


async def _run(metering: Metering, name: str, scenario: tuple) -> None:  # type: ignore[type-arg]
    formula, window, steps, start_minute, length = scenario
    meter = await metering.create_meter(name, formula, dimension_keys=("model",), window=window)
    domain_meter = validate_new_meter(
        meter_id=meter.id,
        display_name="x",
        event_name=name,
        aggregation=FORMULAS[formula],
        dimension_keys=("model",),
        event_time_window=WINDOWS[window],
        now=NOW,
    )
    stored: dict[str, Stored] = {}
    seq = itertools.count()
    for step in steps:
        if step[0] == "cancel":
            identifier = step[1]
            try:
                await metering.cancel(name, identifier)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND and identifier not in stored
            else:
                stored[identifier].cancelled = True
            continue
        batch = []
        for _, identifier, value, customer, minute, model in step:
            extra = {} if model is None else {"model": model}
            timestamp = BASE + timedelta(minutes=minute)
            batch.append(
                event(identifier, value, event_name=name, customer=customer, timestamp=timestamp, **extra)
            )
            content = (value, customer, timestamp, model)
            if identifier not in stored:
                recorded = RecordedEvent(customer, timestamp, next(seq), Decimal(value), extra)
                stored[identifier] = Stored(content, recorded)
        await metering.batch(batch)
    events = [item.recorded for item in stored.values() if not item.cancelled]
    start = BASE + timedelta(minutes=start_minute)
    end = min(start + timedelta(minutes=length), BASE + timedelta(days=3))
    queries = [
        (start, end, 0, (), None),
        (BASE, BASE + timedelta(days=3), meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR, (), TimeWindow.HOUR),
        (
            BASE,
            BASE + timedelta(days=3),
            meter_event_pb2.VALUE_GROUPING_WINDOW_DAY,
            ("model",),
            TimeWindow.DAY,
        ),
        (start, end, 0, ("model",), None),
    ]
    for q_start, q_end, proto_window, group_by, domain_window in queries:
        rows = await metering.summaries(meter.id, q_start, q_end, window=proto_window, group_by=group_by)
        query = validate_summary_query(
            domain_meter,
            customer_id=JENNY,
            start=q_start,
            end=q_end,
            grouping_window=domain_window,
            group_by=group_by,
        )
        expected = [
            (row.start, row.end, row.dimensions, row.value, row.event_count)
            for row in summarize(domain_meter, events, query)
        ]
        actual = [
            (
                r.start_time.ToDatetime(tzinfo=q_start.tzinfo),
                r.end_time.ToDatetime(tzinfo=q_start.tzinfo),
                dict(r.dimensions),
                Decimal(r.aggregated_value.value),
                r.event_count,
            )
            for r in rows
        ]
        assert actual == expected, (scenario, group_by, domain_window)


async def test_summaries_equal_the_naive_recomputation(metering: Metering) -> None:
    loop = asyncio.get_running_loop()
    names = (f"prop_{index}" for index in itertools.count())

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scenarios)
    def check(scenario: tuple) -> None:  # type: ignore[type-arg]
        asyncio.run_coroutine_threadsafe(_run(metering, next(names), scenario), loop).result()

    await asyncio.to_thread(check)
