"""BatchListMeterEventSummaries through a real server: each query answered as
ListMeterEventSummaries answers it (M-20, M-21)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.metering.metering_client import JENNY, NOW, Metering, error_of, event

HOUR = timedelta(hours=1)
DAY_START = NOW.replace(hour=0, minute=0)


def query(meter_id: str, customer_id: str, start_offset: timedelta, end_offset: timedelta, **fields):
    return event_pb.ListMeterEventSummariesRequest(
        meter_id=meter_id,
        customer_id=customer_id,
        start_time=timestamp_to_proto(DAY_START + start_offset),
        end_time=timestamp_to_proto(DAY_START + end_offset),
        **fields,
    )


async def test_each_query_is_answered_in_order_as_the_single_call_answers_it(metering: Metering) -> None:
    meter = await metering.create_meter()
    await metering.batch(
        [
            event("a", "3", timestamp=DAY_START + timedelta(hours=1, minutes=5)),
            event("b", "4", timestamp=DAY_START + timedelta(hours=2, minutes=55)),
            event("c", "100", customer="cus_other", timestamp=DAY_START + timedelta(hours=1)),
        ]
    )
    queries = [
        query(meter.id, JENNY, timedelta(minutes=30), 3 * HOUR),
        query(meter.id, "cus_other", timedelta(0), 4 * HOUR),
        query(meter.id, "cus_nobody", timedelta(0), 4 * HOUR),
        query(
            meter.id,
            JENNY,
            timedelta(0),
            4 * HOUR,
            value_grouping_window=meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR,
            page_size=2,
        ),
    ]

    batch = await metering.events.BatchListMeterEventSummaries(
        event_pb.BatchListMeterEventSummariesRequest(requests=queries), metadata=metering.metadata
    )

    singles = [await metering.events.ListMeterEventSummaries(q, metadata=metering.metadata) for q in queries]
    assert list(batch.responses) == singles
    assert [r.meter_event_summaries[0].aggregated_value.value for r in batch.responses[:3]] == [
        "7",
        "100",
        "0",
    ]
    assert [r.meter_event_summaries[0].customer_id for r in batch.responses[:3]] == [
        JENNY,
        "cus_other",
        "cus_nobody",
    ]
    assert len(batch.responses[3].meter_event_summaries) == 2 and batch.responses[3].next_page_token


@pytest.mark.parametrize(
    "formula",
    [
        meter_pb2.AGGREGATION_FORMULA_SUM,
        meter_pb2.AGGREGATION_FORMULA_COUNT,
        meter_pb2.AGGREGATION_FORMULA_LAST,
        meter_pb2.AGGREGATION_FORMULA_MAX,
        meter_pb2.AGGREGATION_FORMULA_MIN,
        meter_pb2.AGGREGATION_FORMULA_UNIQUE_COUNT,
    ],
)
async def test_whole_range_totals_equal_the_single_call_for_every_formula(
    metering: Metering, formula: int
) -> None:
    meter = await metering.create_meter(formula=formula)
    offsets = [timedelta(minutes=m) for m in (5, 59, 61, 125, 130, 179, 181, 239)]
    values = ["3", "1.5", "3", "7", "2", "7", "0.25", "5"]
    await metering.batch(
        [
            event(f"{customer}-{n}", value, customer=customer, timestamp=DAY_START + offset)
            for customer in (JENNY, "cus_other")
            for n, (offset, value) in enumerate(zip(offsets, values, strict=True))
            if customer == JENNY or n % 2
        ]
    )
    await metering.events.CancelMeterEvent(
        event_pb.CancelMeterEventRequest(event_name=meter.event_name, identifier=f"{JENNY}-3"),
        metadata=metering.metadata,
    )
    ranges = [
        (timedelta(minutes=a), timedelta(minutes=b))
        for a, b in [(0, 240), (30, 150), (60, 180), (2, 3), (59, 61)]
    ]
    queries = [query(meter.id, c, a, b) for c in (JENNY, "cus_other", "cus_nobody") for a, b in ranges]

    batch = await metering.events.BatchListMeterEventSummaries(
        event_pb.BatchListMeterEventSummariesRequest(requests=queries), metadata=metering.metadata
    )

    singles = [await metering.events.ListMeterEventSummaries(q, metadata=metering.metadata) for q in queries]
    assert list(batch.responses) == singles
    assert any(r.meter_event_summaries[0].event_count for r in singles)


async def test_the_first_bad_query_fails_the_batch_naming_its_index(metering: Metering) -> None:
    meter = await metering.create_meter()
    queries = [
        query(meter.id, JENNY, timedelta(0), HOUR),
        query(meter.id, JENNY, timedelta(0), HOUR + timedelta(seconds=30)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.events.BatchListMeterEventSummaries(
            event_pb.BatchListMeterEventSummariesRequest(requests=queries), metadata=metering.metadata
        )
    assert error_of(raised.value) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "TIME_NOT_ALIGNED",
        ["requests[1].end_time"],
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.events.BatchListMeterEventSummaries(
            event_pb.BatchListMeterEventSummariesRequest(
                requests=[query("mtr_missing", JENNY, timedelta(0), HOUR)]
            ),
            metadata=metering.metadata,
        )
    assert error_of(raised.value)[:2] == (grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")


async def test_more_than_a_thousand_queries_is_batch_too_large(metering: Metering) -> None:
    meter = await metering.create_meter()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.events.BatchListMeterEventSummaries(
            event_pb.BatchListMeterEventSummariesRequest(
                requests=[query(meter.id, JENNY, timedelta(0), HOUR)] * 1001
            ),
            metadata=metering.metadata,
        )
    assert error_of(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE", ["requests"])
