"""MeterEventService ingestion and cancellation through a real server (M-10..M-17, X-2)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from drawdown.auth.roles import Role
from drawdown.clock import FrozenClock
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.metering.metering_client import NOW, Metering, error_of, event
from tests.support.harness import bearer

INVALID = grpc.StatusCode.INVALID_ARGUMENT
ACCEPTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED
DUPLICATE = meter_event_pb2.METER_EVENT_RESULT_STATUS_DUPLICATE
REJECTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_REJECTED
DAY = timedelta(days=1)


async def test_m10_m14_single_event_is_stored_and_counted_at_once(metering: Metering) -> None:
    meter = await metering.create_meter()
    reply = await metering.send(event("", "3000"))
    stored = reply.meter_event
    assert stored.identifier.startswith("mev_") and not reply.duplicate
    assert stored.meter_id == meter.id
    assert stored.timestamp == timestamp_to_proto(NOW) == stored.create_time
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 3000


@pytest.mark.parametrize(
    ("message", "code", "reason", "field"),
    [
        (
            event("a", event_name="nope"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_EVENT_NAME",
            "meter_event.event_name",
        ),
        (event("a", customer=""), INVALID, "MISSING_CUSTOMER", "meter_event.payload.customer_id"),
        (event("a", None), INVALID, "MISSING_VALUE", "meter_event.payload.value"),
        (event("a", "1e3"), INVALID, "INVALID_VALUE", "meter_event.payload.value"),
        (
            event("a", "1234567890.123456"),
            INVALID,
            "TOO_MANY_SIGNIFICANT_DIGITS",
            "meter_event.payload.value",
        ),
        (event("a", "0.0000000000000001"), INVALID, "TOO_MANY_DECIMAL_PLACES", "meter_event.payload.value"),
        (
            event("a", timestamp=NOW - timedelta(days=35, seconds=1)),
            INVALID,
            "TIMESTAMP_TOO_FAR_IN_PAST",
            "meter_event.timestamp",
        ),
        (
            event("a", timestamp=NOW + timedelta(minutes=5, seconds=1)),
            INVALID,
            "TIMESTAMP_TOO_FAR_IN_FUTURE",
            "meter_event.timestamp",
        ),
        (event("x" * 101), INVALID, "IDENTIFIER_TOO_LONG", "meter_event.identifier"),
        (event("a", model="g\x00pt"), INVALID, "INVALID_CHARACTER", "meter_event.payload.model"),
    ],
)
async def test_m11_m12_each_refusal_has_its_reason_and_field(
    metering: Metering, message: meter_event_pb2.MeterEvent, code: grpc.StatusCode, reason: str, field: str
) -> None:
    await metering.create_meter()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(message)
    assert error_of(raised.value) == (code, reason, [field])


async def test_m11_bounds_are_inclusive_and_negative_values_correct(metering: Metering) -> None:
    meter = await metering.create_meter()
    await metering.send(event("old", "10", timestamp=NOW - timedelta(days=35)))
    await metering.send(event("future", "-4", timestamp=NOW + timedelta(minutes=5)))
    assert await metering.total(meter.id, NOW - timedelta(days=36), NOW + DAY) == 6


async def test_m13_replay_is_a_duplicate_counted_once_and_other_content_conflicts(metering: Metering) -> None:
    meter = await metering.create_meter()
    first = await metering.send(event("e-1", "5", timestamp=NOW - timedelta(hours=2)))
    again = await metering.send(event("e-1", "5"))  # no timestamp: the stored one is kept
    assert again.duplicate and again.meter_event.timestamp == first.meter_event.timestamp
    assert again.meter_event.create_time == first.meter_event.create_time
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(event("e-1", "6"))
    assert error_of(raised.value)[:2] == (grpc.StatusCode.ALREADY_EXISTS, "EVENT_IDENTIFIER_CONFLICT")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(event("e-1", "5", timestamp=NOW - timedelta(hours=1)))
    assert error_of(raised.value)[:2] == (grpc.StatusCode.ALREADY_EXISTS, "EVENT_IDENTIFIER_CONFLICT")
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 5


async def test_m13_identifiers_are_unique_per_meter_only(metering: Metering) -> None:
    tokens = await metering.create_meter()
    requests = await metering.create_meter("hypernian_requests", meter_pb2.AGGREGATION_FORMULA_COUNT)
    await metering.send(event("same", "7"))
    reply = await metering.send(event("same", None, event_name="hypernian_requests"))
    assert not reply.duplicate
    assert await metering.total(tokens.id, NOW - DAY, NOW + DAY) == 7
    assert await metering.total(requests.id, NOW - DAY, NOW + DAY) == 1


async def test_m15_batch_reports_each_event_and_stores_the_valid_ones(metering: Metering) -> None:
    meter = await metering.create_meter()
    await metering.send(event("stored", "1"))
    reply = await metering.batch(
        [
            event("b-1", "10"),
            event("b-2", "abc"),
            event("b-1", "10"),
            event("b-1", "11"),
            event("stored", "1"),
            event("b-3", "5", event_name="unknown"),
            event("", "20"),
        ]
    )
    summary = [(r.index, r.status, r.reason, r.field) for r in reply.results]
    assert summary == [
        (0, ACCEPTED, "", ""),
        (1, REJECTED, "INVALID_VALUE", "events[1].payload.value"),
        (2, DUPLICATE, "", ""),
        (3, REJECTED, "EVENT_IDENTIFIER_CONFLICT", "events[3].identifier"),
        (4, DUPLICATE, "", ""),
        (5, REJECTED, "UNKNOWN_EVENT_NAME", "events[5].event_name"),
        (6, ACCEPTED, "", ""),
    ]
    assert reply.results[6].identifier.startswith("mev_")
    assert (reply.accepted_count, reply.duplicate_count, reply.rejected_count) == (2, 2, 3)
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 31


async def test_m15_batch_of_more_than_10000_events_is_refused_whole(metering: Metering) -> None:
    meter = await metering.create_meter()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.batch([event(f"e{i}", "1") for i in range(10_001)])
    assert error_of(raised.value) == (INVALID, "BATCH_TOO_LARGE", ["events"])
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 0


async def test_m15_stream_answers_each_batch_after_commit_in_order(metering: Metering) -> None:
    meter = await metering.create_meter()
    call = metering.events.StreamMeterEvents(metadata=metering.metadata)
    for sequence in (1, 2, 3):
        await call.write(
            event_pb.StreamMeterEventsRequest(
                sequence=sequence,
                events=[event(f"s{sequence}-{i}", "1") for i in range(100)] + [event("s1-0", "1")],
            )
        )
        reply = await call.read()
        assert reply.sequence == sequence
        # Acknowledged means counted (M-14): the summary sees the batch before the next one is sent.
        assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 100 * sequence
    assert (reply.accepted_count, reply.duplicate_count, reply.rejected_count) == (100, 1, 0)
    assert [(r.index, r.status) for r in reply.results] == [(100, DUPLICATE)]
    await call.write(
        event_pb.StreamMeterEventsRequest(sequence=4, events=[event(f"x{i}", "1") for i in range(10_001)])
    )
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert error_of(raised.value)[:2] == (INVALID, "BATCH_TOO_LARGE")
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 300


async def test_m16_cancel_within_24_hours_stops_counting_and_keeps_the_identifier(
    metering: Metering, clock: FrozenClock
) -> None:
    meter = await metering.create_meter()
    await metering.send(event("keep", "1"))
    await metering.send(event("drop", "10"))
    cancelled = await metering.cancel("hypernian_input_tokens", "drop")
    assert cancelled.meter_event.HasField("cancel_time") and cancelled.meter_event.payload["value"] == "10"
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 1
    assert (await metering.cancel("hypernian_input_tokens", "drop")) == cancelled
    replay = await metering.send(event("drop", "10"))
    assert replay.duplicate and replay.meter_event.HasField("cancel_time")
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 1
    clock.advance(timedelta(hours=24))
    await metering.cancel("hypernian_input_tokens", "keep")  # exactly 24 h: still allowed
    await metering.send(event("late", "1"))
    clock.advance(timedelta(hours=24, microseconds=1))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.cancel("hypernian_input_tokens", "late")
    assert error_of(raised.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CANCELLATION_WINDOW_PASSED")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.cancel("hypernian_input_tokens", "missing")
    assert error_of(raised.value)[:2] == (grpc.StatusCode.NOT_FOUND, "EVENT_NOT_FOUND")


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (meter_pb2.AGGREGATION_FORMULA_MAX, "5"),
        (meter_pb2.AGGREGATION_FORMULA_MIN, "2"),
        (meter_pb2.AGGREGATION_FORMULA_LAST, "5"),
        (meter_pb2.AGGREGATION_FORMULA_UNIQUE_COUNT, "2"),
        (meter_pb2.AGGREGATION_FORMULA_COUNT, "2"),
    ],
)
async def test_m16_cancel_recomputes_formulas_that_cannot_subtract(
    metering: Metering, formula: int, expected: str
) -> None:
    meter = await metering.create_meter("m", formula)
    await metering.batch(
        [
            event("a", "5", event_name="m", timestamp=NOW - timedelta(minutes=30)),
            event("b", "2", event_name="m", timestamp=NOW - timedelta(minutes=20)),
            event("c", "9", event_name="m", timestamp=NOW - timedelta(minutes=10)),
        ]
    )
    await metering.cancel("m", "c")
    await metering.cancel("m", "b")
    await metering.send(event("b2", "2", event_name="m", timestamp=NOW - timedelta(minutes=40)))
    (row,) = await metering.summaries(meter.id, NOW - DAY, NOW + DAY)
    assert (row.aggregated_value.value, row.event_count) == (expected, 2)


async def test_m17_preaggregated_meter_counts_the_latest_received_event_per_window(
    metering: Metering,
) -> None:
    meter = await metering.create_meter("gauge", window=meter_pb2.EVENT_TIME_WINDOW_HOUR)
    hour = NOW.replace(minute=0) - timedelta(hours=2)
    await metering.batch(
        [
            event("a", "100", event_name="gauge", timestamp=hour + timedelta(minutes=50)),
            event("b", "30", event_name="gauge", timestamp=hour + timedelta(minutes=10)),
        ]
    )
    await metering.send(event("c", "7", event_name="gauge", timestamp=hour + timedelta(hours=1, minutes=5)))
    assert await metering.total(meter.id, hour, hour + timedelta(hours=2)) == 37
    # Only part of the first hour is asked for: supersession does not depend on the range.
    assert await metering.total(meter.id, hour + timedelta(minutes=30), hour + timedelta(hours=2)) == 7
    await metering.cancel("gauge", "b")
    assert await metering.total(meter.id, hour, hour + timedelta(hours=2)) == 107


async def test_m10_text_with_special_characters_is_stored_as_sent(metering: Metering) -> None:
    meter = await metering.create_meter(dimension_keys=("model",))
    tricky = 'a\tb\nc\\d"e{f},g\r é 日本 \\N'
    await metering.send(event(f"id {tricky}", "2", customer=tricky, model=tricky, note=tricky))
    cancelled = await metering.cancel("hypernian_input_tokens", f"id {tricky}")
    assert dict(cancelled.meter_event.payload) == {
        "customer_id": tricky,
        "value": "2",
        "model": tricky,
        "note": tricky,
    }
    await metering.send(event("plain", "3", customer=tricky, model=tricky))
    rows = await metering.summaries(meter.id, NOW - DAY, NOW + DAY, customer_id=tricky, group_by=("model",))
    assert [(dict(r.dimensions), r.aggregated_value.value) for r in rows] == [({"model": tricky}, "3")]


async def test_x1_cancel_with_a_request_id_replays_the_first_answer(
    metering: Metering, clock: FrozenClock
) -> None:
    await metering.create_meter()
    await metering.send(event("e", "1"))
    request = event_pb.CancelMeterEventRequest(
        event_name="hypernian_input_tokens", identifier="e", request_id="c-1"
    )
    first = await metering.events.CancelMeterEvent(request, metadata=metering.metadata)
    clock.advance(timedelta(days=2))  # past the window: only a replay can still answer
    again = await metering.events.CancelMeterEvent(request, metadata=metering.metadata)
    assert again == first


async def test_ingest_role_sends_events_and_service_role_reads_summaries(metering: Metering) -> None:
    meter = await metering.create_meter()
    ingest = Metering(metering.suite, bearer(metering.suite.key(Role.INGEST)))
    await ingest.send(event("e", "4"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await ingest.create_meter("other")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    service = Metering(metering.suite, bearer(metering.suite.key(Role.SERVICE)))
    assert await service.total(meter.id, NOW - DAY, NOW + DAY) == 4
