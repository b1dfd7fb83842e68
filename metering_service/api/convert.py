"""Protobuf ⇄ domain conversions of the metering API, and field paths of request errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from google.protobuf import timestamp_pb2

from drawdown.errors import DomainError, FieldViolation
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.rpc.convert import decimal_value, optional_timestamp, timestamp_to_proto
from metering_service.domain.aggregation import SummaryRow
from metering_service.domain.events import EventInput
from metering_service.domain.meters import Aggregation, Meter, MeterStatus, TimeWindow
from metering_service.service.events import CancelledEvent, EventOutcome, EventStatus
from metering_service.service.meters import MeterDraft

AGGREGATIONS = {
    meter_pb2.AGGREGATION_FORMULA_SUM: Aggregation.SUM,
    meter_pb2.AGGREGATION_FORMULA_COUNT: Aggregation.COUNT,
    meter_pb2.AGGREGATION_FORMULA_LAST: Aggregation.LAST,
    meter_pb2.AGGREGATION_FORMULA_MAX: Aggregation.MAX,
    meter_pb2.AGGREGATION_FORMULA_MIN: Aggregation.MIN,
    meter_pb2.AGGREGATION_FORMULA_UNIQUE_COUNT: Aggregation.UNIQUE_COUNT,
}
_AGGREGATIONS_TO_PROTO = {value: key for key, value in AGGREGATIONS.items()}
_EVENT_WINDOWS = {
    meter_pb2.EVENT_TIME_WINDOW_HOUR: TimeWindow.HOUR,
    meter_pb2.EVENT_TIME_WINDOW_DAY: TimeWindow.DAY,
}
_EVENT_WINDOWS_TO_PROTO = {value: key for key, value in _EVENT_WINDOWS.items()}
_STATUSES = {
    meter_pb2.METER_STATUS_ACTIVE: MeterStatus.ACTIVE,
    meter_pb2.METER_STATUS_INACTIVE: MeterStatus.INACTIVE,
}
_STATUSES_TO_PROTO = {value: key for key, value in _STATUSES.items()}
_GROUPING_WINDOWS = {
    meter_event_pb2.VALUE_GROUPING_WINDOW_HOUR: TimeWindow.HOUR,
    meter_event_pb2.VALUE_GROUPING_WINDOW_DAY: TimeWindow.DAY,
}
_RESULT_STATUSES = {
    EventStatus.ACCEPTED: meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED,
    EventStatus.DUPLICATE: meter_event_pb2.METER_EVENT_RESULT_STATUS_DUPLICATE,
    EventStatus.REJECTED: meter_event_pb2.METER_EVENT_RESULT_STATUS_REJECTED,
}
# Refusals without a field violation still point at the field they are about.
_FIELD_OF_REASON = {"METER_INACTIVE": "event_name", "EVENT_IDENTIFIER_CONFLICT": "identifier"}
# Request-level fields: not inside the request's meter message.
_REQUEST_FIELDS = frozenset({"update_mask", "request_id", "page_size", "page_token"})


@contextmanager
def fields_under(prefix: str) -> Iterator[None]:
    """Re-raise domain errors with their field paths under ``prefix`` (``meter.display_name``)."""
    try:
        yield
    except DomainError as error:
        raise _with_prefix(error, prefix) from None


def _with_prefix(error: DomainError, prefix: str) -> DomainError:
    def path(field: str) -> str:
        return field if field in _REQUEST_FIELDS else prefix + field

    if not error.field_violations:
        return error
    violations = [FieldViolation(path(v.field), v.description) for v in error.field_violations]
    metadata = dict(error.metadata)
    if "field" in metadata:
        metadata["field"] = path(metadata["field"])
    message = error.message
    first = error.field_violations[0].field
    if message.startswith(first + ":"):
        message = path(first) + message[len(first) :]
    return type(error)(message, reason=error.reason, metadata=metadata, field_violations=violations)


def meter_draft_from_proto(meter: meter_pb2.Meter) -> MeterDraft:
    return MeterDraft(
        display_name=meter.display_name,
        event_name=meter.event_name,
        aggregation=AGGREGATIONS.get(meter.aggregation_formula),
        customer_key=meter.customer_mapping.event_payload_key,
        value_key=meter.value_settings.event_payload_key,
        dimension_keys=tuple(meter.dimension_keys),
        event_time_window=_EVENT_WINDOWS.get(meter.event_time_window),
    )


def status_from_proto(status: int) -> MeterStatus | None:
    return _STATUSES.get(status)


def grouping_window_from_proto(window: int) -> TimeWindow | None:
    return _GROUPING_WINDOWS.get(window)


def meter_to_proto(meter: Meter) -> meter_pb2.Meter:
    return meter_pb2.Meter(
        id=meter.id,
        display_name=meter.display_name,
        event_name=meter.event_name,
        aggregation_formula=_AGGREGATIONS_TO_PROTO[meter.aggregation],
        customer_mapping=meter_pb2.CustomerMapping(event_payload_key=meter.customer_key),
        value_settings=meter_pb2.ValueSettings(event_payload_key=meter.value_key),
        dimension_keys=meter.dimension_keys,
        event_time_window=_EVENT_WINDOWS_TO_PROTO.get(meter.event_time_window, 0),  # type: ignore[arg-type]
        status=_STATUSES_TO_PROTO[meter.status],
        create_time=timestamp_to_proto(meter.created_at),
        update_time=timestamp_to_proto(meter.updated_at),
        deactivate_time=timestamp_to_proto(meter.deactivated_at),
    )


def event_input_from_proto(event: meter_event_pb2.MeterEvent, field: str) -> EventInput:
    timestamp = optional_timestamp(event, "timestamp", f"{field}.timestamp")
    return EventInput(event.event_name, dict(event.payload), event.identifier, timestamp)


def stored_event_to_proto(outcome: EventOutcome) -> meter_event_pb2.MeterEvent:
    """The event as stored (ACCEPTED or DUPLICATE; for a duplicate, the first event's times)."""
    assert outcome.event is not None and outcome.stored is not None
    return meter_event_pb2.MeterEvent(
        event_name=outcome.event.event_name,
        payload=outcome.event.payload,
        identifier=outcome.identifier,
        timestamp=timestamp_to_proto(outcome.stored.timestamp),
        meter_id=outcome.event.meter_id,
        create_time=timestamp_to_proto(outcome.stored.received_at),
        cancel_time=timestamp_to_proto(outcome.stored.cancelled_at),
    )


class Timestamps(dict[datetime, timestamp_pb2.Timestamp]):
    """Times as Timestamp messages, each converted once per response: the events of a batch
    share their receipt time and often their timestamps, and conversion costs more than
    the rest of a result."""

    def __missing__(self, moment: datetime) -> timestamp_pb2.Timestamp:
        message = self[moment] = timestamp_to_proto(moment)
        return message


def result_to_proto(
    index: int, outcome: EventOutcome, timestamps: Timestamps
) -> meter_event_pb2.MeterEventResult:
    if outcome.error is None:
        assert outcome.stored is not None
        return meter_event_pb2.MeterEventResult(
            index=index,
            identifier=outcome.identifier,
            status=_RESULT_STATUSES[outcome.status],
            timestamp=timestamps[outcome.stored.timestamp],
            create_time=timestamps[outcome.stored.received_at],
        )
    error = outcome.error
    field = (
        error.field_violations[0].field if error.field_violations else _FIELD_OF_REASON.get(error.reason, "")
    )
    return meter_event_pb2.MeterEventResult(
        index=index,
        identifier=outcome.identifier,
        status=_RESULT_STATUSES[outcome.status],
        reason=error.reason,
        message=error.message,
        field=f"events[{index}].{field}" if field else f"events[{index}]",
    )


def cancelled_event_to_proto(cancelled: CancelledEvent) -> meter_event_pb2.MeterEvent:
    event = cancelled.event
    return meter_event_pb2.MeterEvent(
        event_name=cancelled.meter.event_name,
        payload=event.payload,
        identifier=event.identifier,
        timestamp=timestamp_to_proto(event.timestamp),
        meter_id=event.meter_id,
        create_time=timestamp_to_proto(event.received_at),
        cancel_time=timestamp_to_proto(event.cancelled_at),
    )


def summary_to_proto(meter_id: str, customer_id: str, row: SummaryRow) -> meter_event_pb2.MeterEventSummary:
    return meter_event_pb2.MeterEventSummary(
        meter_id=meter_id,
        customer_id=customer_id,
        start_time=timestamp_to_proto(row.start),
        end_time=timestamp_to_proto(row.end),
        aggregated_value={"value": decimal_value(row.value)},
        dimensions=row.dimensions,
        event_count=row.event_count,
    )
