"""Batch answers in bulk (M-15): the wire-format results equal the message-by-message ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from drawdown.errors import InvalidArgument
from drawdown.metering.v1 import meter_event_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.rpc.convert import timestamp_to_proto
from metering_service.api import convert
from metering_service.domain.events import EventInput, MeterEvent, MeterLookup, validate_event
from metering_service.service.events import EventOutcome, EventStatus, IngestedBatch
from metering_service.store.events import StoredEvent
from tests.unit.metering.meter_builders import JENNY, RECEIVED_AT, TOKENS


def _event(meter_lookup: MeterLookup, identifier: str, timestamp: datetime | None) -> MeterEvent:
    payload = {"customer_id": JENNY, "value": "3", "model": "hyper-1"}
    return validate_event(meter_lookup, EventInput(TOKENS, payload, identifier, timestamp), RECEIVED_AT)


async def test_m15_bulk_results_match_one_message_per_result(meter_lookup: MeterLookup) -> None:
    moments = [
        None,  # the receipt time
        RECEIVED_AT - timedelta(days=34, microseconds=1),
        (RECEIVED_AT + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=-7))),
        RECEIVED_AT.replace(microsecond=999_999),
    ]
    identifiers = ["a", "é" * 80, "x" * 100, "", "b"]  # 2-byte lengths, a generated id
    events = [
        _event(meter_lookup, identifier, moments[index % len(moments)])
        for index, identifier in enumerate(identifiers)
    ]
    first = events[0]
    exceptions = {
        1: EventOutcome(
            EventStatus.DUPLICATE,
            events[1].identifier,
            events[1],
            StoredEvent(events[1].fingerprint, datetime(1969, 7, 20, 20, 17, tzinfo=UTC), RECEIVED_AT, None),
        ),
        5: EventOutcome(
            EventStatus.REJECTED,
            "bad",
            error=InvalidArgument.for_field("payload.value", "is required", reason="MISSING_VALUE"),
        ),
    }
    batch = IngestedBatch(RECEIVED_AT, [*events, None, first], exceptions)
    response = await convert.batch_response_to_proto(batch)
    timestamps = convert.Timestamps()
    expected = event_pb.BatchCreateMeterEventsResponse(
        results=[convert.result_to_proto(index, batch.outcome(index), timestamps) for index in range(7)],
        accepted_count=5,
        duplicate_count=1,
        rejected_count=1,
    )
    assert response == expected
    accepted = response.results[0]
    assert accepted.status == meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED
    assert accepted.create_time == timestamp_to_proto(RECEIVED_AT) == accepted.timestamp
    assert response.results[2].timestamp == timestamp_to_proto(moments[2])
    assert response.results[3].identifier.startswith("mev_")
