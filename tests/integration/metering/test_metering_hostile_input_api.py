"""Input that once broke metering, through a real server (X-5, X-6, X-7).

Each test sends the request that showed a fault: one bad event must be refused on its
own while the valid events of its batch, call or stream are stored; a summary over the
whole Timestamp range must cost a page; an id far over its limit is a clear refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from drawdown.metering.v1 import meter_event_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.metering.metering_client import JENNY, NOW, Metering, error_of, event

INVALID = grpc.StatusCode.INVALID_ARGUMENT
ACCEPTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED
REJECTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_REJECTED
DAY = timedelta(days=1)
FIRST_DAY = datetime(1, 1, 1, tzinfo=UTC)
LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC)
LONG = "x" * 2_700


def bad_events() -> list[tuple[meter_event_pb2.MeterEvent, str, str]]:
    """Events each refused on its own: the event, its reason and the field named."""
    return [
        (event("long-customer", customer=LONG), "STRING_TOO_LONG", "payload.customer_id"),
        (event("long-dimension", model=LONG), "STRING_TOO_LONG", "payload.model"),
        (event("long-key", **{"k" * 101: "v"}), "STRING_TOO_LONG", "payload"),
        (event("many-keys", **{f"key{i}": "v" for i in range(50)}), "PAYLOAD_TOO_LARGE", "payload"),
        (event("nul-name", event_name="hypernian_input_tokens\x00tail"), "INVALID_CHARACTER", "event_name"),
        (event("long-name", event_name="n" * 2_700), "STRING_TOO_LONG", "event_name"),
        (event("nul-customer", customer="cus\x00"), "INVALID_CHARACTER", "payload.customer_id"),
    ]


async def test_x6_a_bad_event_is_refused_alone_and_the_valid_events_of_its_batch_are_stored(
    metering: Metering,
) -> None:
    meter = await metering.create_meter(dimension_keys=("model",))
    bad = bad_events()
    events = [event("good-1", "2")] + [sent for sent, _, _ in bad] + [event("good-2", "3")]

    reply = await metering.batch(events)

    results = {result.index: result for result in reply.results}
    assert [results[0].status, results[len(events) - 1].status] == [ACCEPTED, ACCEPTED]
    assert [(results[i].status, results[i].reason, results[i].field) for i in range(1, len(bad) + 1)] == [
        (REJECTED, reason, f"events[{i}].{field}") for i, (_, reason, field) in enumerate(bad, start=1)
    ]
    assert all(len(result.message) < 500 for result in reply.results)
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 5


@pytest.mark.parametrize("case", range(len(bad_events())))
async def test_x6_a_bad_single_event_is_invalid_argument_naming_its_field(
    metering: Metering, case: int
) -> None:
    await metering.create_meter(dimension_keys=("model",))
    sent, reason, field = bad_events()[case]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(sent)

    assert error_of(raised.value) == (INVALID, reason, [f"meter_event.{field}"])
    assert len(raised.value.details() or "") < 500


async def test_x6_a_stream_batch_with_bad_events_stores_the_valid_ones_and_goes_on(
    metering: Metering,
) -> None:
    meter = await metering.create_meter(dimension_keys=("model",))
    call = metering.events.StreamMeterEvents(metadata=metering.metadata)
    bad = [sent for sent, _, _ in bad_events()]
    await call.write(event_pb.StreamMeterEventsRequest(sequence=1, events=[event("a", "4"), *bad]))
    first = await call.read()
    await call.write(event_pb.StreamMeterEventsRequest(sequence=2, events=[event("b", "1")]))
    second = await call.read()
    await call.done_writing()

    assert (first.accepted_count, first.rejected_count) == (1, len(bad))
    assert (second.sequence, second.accepted_count) == (2, 1)
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 5


@pytest.mark.parametrize(
    "window", [meter_event_pb2.VALUE_GROUPING_WINDOW_DAY, meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR]
)
async def test_x7_a_summary_over_the_whole_timestamp_range_is_paged_lazily(
    metering: Metering, window: int
) -> None:
    meter = await metering.create_meter()
    await metering.batch([event("a", "5", timestamp=NOW)])
    query = event_pb.ListMeterEventSummariesRequest(
        meter_id=meter.id,
        customer_id=JENNY,
        start_time=timestamp_to_proto(FIRST_DAY),
        end_time=timestamp_to_proto(LAST_DAY),
        value_grouping_window=window,  # type: ignore[arg-type]
        page_size=3,
    )
    length = DAY if window == meter_event_pb2.VALUE_GROUPING_WINDOW_DAY else timedelta(hours=1)

    first = await metering.events.ListMeterEventSummaries(query, metadata=metering.metadata)
    query.page_token = first.next_page_token
    second = await metering.events.ListMeterEventSummaries(query, metadata=metering.metadata)
    batch = await metering.events.BatchListMeterEventSummaries(
        event_pb.BatchListMeterEventSummariesRequest(requests=[query, query]), metadata=metering.metadata
    )

    starts = [
        row.start_time.ToDatetime(UTC)
        for row in [*first.meter_event_summaries, *second.meter_event_summaries]
    ]
    assert starts == [FIRST_DAY + i * length for i in range(6)]
    assert second.next_page_token
    assert list(batch.responses) == [second, second]


async def test_x7_a_whole_range_summary_by_dimension_finds_the_windows_with_usage(metering: Metering) -> None:
    meter = await metering.create_meter(dimension_keys=("model",))
    await metering.batch([event("a", "5", timestamp=NOW, model="m1"), event("b", "2", timestamp=NOW - DAY)])

    rows = await metering.summaries(
        meter.id,
        FIRST_DAY,
        LAST_DAY,
        window=meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR,
        group_by=("model",),
        page_size=1,
    )

    assert [
        (row.start_time.ToDatetime(UTC), dict(row.dimensions), row.aggregated_value.value) for row in rows
    ] == [
        ((NOW - DAY).replace(minute=0), {"model": ""}, "2"),
        (NOW.replace(minute=0), {"model": "m1"}, "5"),
    ]


async def test_x5_get_meter_with_a_5000_character_id_is_a_clear_refusal(metering: Metering) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.GetMeter(
            meter_pb.GetMeterRequest(meter_id="m" * 5_000), metadata=metering.metadata
        )

    assert raised.value.code() in {grpc.StatusCode.NOT_FOUND, INVALID}
    assert len(raised.value.details() or "") < 500
