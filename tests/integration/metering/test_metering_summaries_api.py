"""ListMeterEventSummaries through a real server (M-4, M-20, M-21, X-4)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.metering.metering_client import JENNY, NOW, Metering, error_of, event

HOUR = timedelta(hours=1)
DAY_START = NOW.replace(hour=0, minute=0)


async def test_m21_hourly_rows_include_empty_windows(metering: Metering) -> None:
    meter = await metering.create_meter()
    await metering.batch(
        [
            event("a", "3", timestamp=DAY_START + timedelta(hours=1, minutes=5)),
            event("b", "4", timestamp=DAY_START + timedelta(hours=1, minutes=55)),
            event("c", "1.5", timestamp=DAY_START + timedelta(hours=3)),
            event("other", "100", customer="cus_other", timestamp=DAY_START + timedelta(hours=1)),
        ]
    )
    rows = await metering.summaries(
        meter.id,
        DAY_START,
        DAY_START + 4 * HOUR,
        window=meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR,
        page_size=3,
    )
    assert [(r.start_time.ToDatetime().hour, r.aggregated_value.value, r.event_count) for r in rows] == [
        (0, "0", 0),
        (1, "7", 2),
        (2, "0", 0),
        (3, "1.5", 1),
    ]
    assert all(r.customer_id == JENNY and r.meter_id == meter.id for r in rows)


async def test_m20_minute_aligned_range_counts_partial_hours_exactly(metering: Metering) -> None:
    meter = await metering.create_meter()
    await metering.batch(
        [
            event("a", "1", timestamp=DAY_START + timedelta(hours=1, minutes=14, seconds=59)),
            event("b", "2", timestamp=DAY_START + timedelta(hours=1, minutes=15)),
            event("c", "4", timestamp=DAY_START + timedelta(hours=2, minutes=30)),
            event("d", "8", timestamp=DAY_START + timedelta(hours=3, minutes=44, seconds=59)),
            event("e", "16", timestamp=DAY_START + timedelta(hours=3, minutes=45)),
        ]
    )
    start, end = DAY_START + timedelta(hours=1, minutes=15), DAY_START + timedelta(hours=3, minutes=45)
    assert await metering.total(meter.id, start, end) == 14
    assert await metering.total(meter.id, start, start + timedelta(minutes=20)) == 2


async def test_m4_rows_grouped_by_dimension_and_day(metering: Metering) -> None:
    meter = await metering.create_meter(dimension_keys=("model", "region"))
    await metering.batch(
        [
            event("a", "1", model="gpt", timestamp=DAY_START - timedelta(hours=2)),
            event("b", "2", model="claude", timestamp=DAY_START + HOUR),
            event("c", "3", model="gpt", region="eu", timestamp=DAY_START + 2 * HOUR),
            event("d", "4", timestamp=DAY_START + 3 * HOUR),
        ]
    )
    rows = await metering.summaries(
        meter.id,
        DAY_START - timedelta(days=1),
        DAY_START + timedelta(days=1),
        window=meter_event_pb2.VALUE_GROUPING_WINDOW_DAY,
        group_by=("model",),
        page_size=1,
    )
    assert [(r.start_time.ToDatetime().day, dict(r.dimensions), r.aggregated_value.value) for r in rows] == [
        (9, {"model": "gpt"}, "1"),
        (10, {"model": ""}, "4"),
        (10, {"model": "claude"}, "2"),
        (10, {"model": "gpt"}, "3"),
    ]


@pytest.mark.parametrize(
    ("start_offset", "end_offset", "window", "group_by", "reason", "field"),
    [
        (timedelta(seconds=30), HOUR, 0, (), "TIME_NOT_ALIGNED", "start_time"),
        (
            timedelta(0),
            timedelta(minutes=90),
            meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR,
            (),
            "TIME_NOT_ALIGNED",
            "end_time",
        ),
        (timedelta(0), HOUR, meter_event_pb2.VALUE_GROUPING_WINDOW_DAY, (), "TIME_NOT_ALIGNED", "end_time"),
        (HOUR, HOUR, 0, (), "INVALID_TIME_RANGE", "end_time"),
        (timedelta(0), HOUR, 0, ("region",), "UNKNOWN_DIMENSION", "group_by[0]"),
    ],
)
async def test_m20_misaligned_or_invalid_queries_name_the_field(
    metering: Metering,
    start_offset: timedelta,
    end_offset: timedelta,
    window: int,
    group_by: tuple[str, ...],
    reason: str,
    field: str,
) -> None:
    meter = await metering.create_meter(dimension_keys=("model",))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.summaries(
            meter.id, DAY_START + start_offset, DAY_START + end_offset, window=window, group_by=group_by
        )
    assert error_of(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, reason, [field])


async def test_m20_missing_range_unknown_meter_and_bad_token(metering: Metering) -> None:
    meter = await metering.create_meter()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.events.ListMeterEventSummaries(
            event_pb.ListMeterEventSummariesRequest(meter_id=meter.id, customer_id=JENNY),
            metadata=metering.metadata,
        )
    assert error_of(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TIME_RANGE", ["start_time"])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.summaries("mtr_missing", DAY_START, DAY_START + HOUR)
    assert error_of(raised.value)[:2] == (grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.events.ListMeterEventSummaries(
            event_pb.ListMeterEventSummariesRequest(
                meter_id=meter.id,
                customer_id=JENNY,
                start_time=timestamp_to_proto(DAY_START),
                end_time=timestamp_to_proto(DAY_START + HOUR),
                page_token="garbage",
            ),
            metadata=metering.metadata,
        )
    assert error_of(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["page_token"])


async def test_m21_inactive_meters_can_be_summarized(metering: Metering) -> None:
    meter = await metering.create_meter("gauge", meter_pb2.AGGREGATION_FORMULA_LAST)
    await metering.send(event("a", "12.50", event_name="gauge"))
    await metering.meters.DeactivateMeter(
        meter_pb.DeactivateMeterRequest(meter_id=meter.id), metadata=metering.metadata
    )
    (row,) = await metering.summaries(meter.id, DAY_START, DAY_START + timedelta(days=1))
    assert (row.aggregated_value.value, row.event_count) == ("12.5", 1)
