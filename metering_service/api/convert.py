"""Protobuf ⇄ domain conversions of the metering API, and field paths of request errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from drawdown.errors import DomainError, FieldViolation, InvalidArgument
from drawdown.events.outbox import encoder
from drawdown.metering.v1 import meter_error_report_pb2, meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.rpc.convert import decimal_value, optional_timestamp, timestamp_from_proto, timestamp_to_proto
from drawdown.rpc.enums import EnumMap
from drawdown.type.v1 import interval_pb2
from metering_service.domain import reasons
from metering_service.domain.aggregation import SummaryRow
from metering_service.domain.error_reports import ErrorReport
from metering_service.domain.events import EventInput
from metering_service.domain.meters import Aggregation, Meter, MeterStatus, TimeWindow
from metering_service.service.events import CHUNK, CancelledEvent, EventOutcome, EventStatus, IngestedBatch
from metering_service.service.meters import MeterDraft

_AGGREGATIONS = EnumMap(meter_pb2.AggregationFormula, Aggregation)
_EVENT_WINDOWS = EnumMap(meter_pb2.EventTimeWindow, TimeWindow)
_STATUSES = EnumMap(meter_pb2.MeterStatus, MeterStatus)
_GROUPING_WINDOWS = EnumMap(meter_event_pb2.ValueGroupingWindow, TimeWindow)
_RESULT_STATUSES = EnumMap(meter_event_pb2.MeterEventResultStatus, EventStatus)
# Refusals without a field violation still point at the field they are about.
_FIELD_OF_REASON = {reasons.METER_INACTIVE: "event_name", reasons.EVENT_IDENTIFIER_CONFLICT: "identifier"}
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
        aggregation=_AGGREGATIONS.from_proto(meter.aggregation_formula),
        customer_key=meter.customer_mapping.event_payload_key,
        value_key=meter.value_settings.event_payload_key,
        dimension_keys=tuple(meter.dimension_keys),
        event_time_window=_EVENT_WINDOWS.from_proto(meter.event_time_window),
    )


def status_from_proto(status: int) -> MeterStatus | None:
    return _STATUSES.from_proto(status)


def grouping_window_from_proto(window: int) -> TimeWindow | None:
    return _GROUPING_WINDOWS.from_proto(window)


def meter_to_proto(meter: Meter) -> meter_pb2.Meter:
    return meter_pb2.Meter(
        id=meter.id,
        display_name=meter.display_name,
        event_name=meter.event_name,
        aggregation_formula=_AGGREGATIONS.to_proto(meter.aggregation),  # type: ignore[arg-type]
        customer_mapping=meter_pb2.CustomerMapping(event_payload_key=meter.customer_key),
        value_settings=meter_pb2.ValueSettings(event_payload_key=meter.value_key),
        dimension_keys=meter.dimension_keys,
        event_time_window=_EVENT_WINDOWS.to_proto(meter.event_time_window),  # type: ignore[arg-type]
        status=_STATUSES.to_proto(meter.status),  # type: ignore[arg-type]
        create_time=timestamp_to_proto(meter.created_at),
        update_time=timestamp_to_proto(meter.updated_at),
        deactivate_time=timestamp_to_proto(meter.deactivated_at),
    )


def error_report_to_proto(report: ErrorReport) -> meter_error_report_pb2.MeterErrorReport:
    return meter_error_report_pb2.MeterErrorReport(
        meter_id=report.meter_id,
        event_name=report.event_name,
        window=interval_pb2.TimeRange(
            start_time=timestamp_to_proto(report.window_start), end_time=timestamp_to_proto(report.window_end)
        ),
        reasons=[
            meter_error_report_pb2.MeterErrorReport.ReasonCount(
                reason=counted.reason, count=counted.count, sample_identifiers=counted.sample_identifiers
            )
            for counted in report.reasons
        ],
    )


# The API message of each kind of value metering records events about (E-2).
EVENT_DATA = encoder({Meter: meter_to_proto, ErrorReport: error_report_to_proto})


def event_input_from_proto(event: meter_event_pb2.MeterEvent, field: str) -> EventInput:
    timestamp = optional_timestamp(event, "timestamp", f"{field}.timestamp")
    return EventInput(event.event_name, dict(event.payload), event.identifier, timestamp)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS = 1_000_000_000


async def event_inputs_from_proto(events: Sequence[meter_event_pb2.MeterEvent]) -> list[EventInput]:
    """The events of a batch, as :func:`event_input_from_proto` reads each (field paths ``events[i]``).

    The hot path of ingestion: timestamps are converted from seconds and nanos directly
    (what ``Timestamp.ToDatetime`` does, at a third of its cost) and once per distinct
    value, and the event loop gets a turn every ``CHUNK`` events (other batches' commits
    wait for it).
    """
    moments: dict[tuple[int, int], datetime] = {}
    inputs = []
    append = inputs.append
    for index, event in enumerate(events):
        if index and not index % CHUNK:
            await asyncio.sleep(0)
        moment = None
        if event.HasField("timestamp"):
            timestamp = event.timestamp
            key = (timestamp.seconds, timestamp.nanos)
            moment = moments.get(key)
            if moment is None:
                moment = moments[key] = _timestamp(timestamp, index)
        payload = event.payload
        # A comprehension over the map: dict() would walk it through the Python Mapping mixins.
        append(EventInput(event.event_name, {key: payload[key] for key in payload}, event.identifier, moment))
    return inputs


def _timestamp(message: timestamp_pb2.Timestamp, index: int) -> datetime:
    if 0 <= message.nanos < _NANOS:
        try:
            return _EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)
        except OverflowError:
            raise InvalidArgument.for_field(
                f"events[{index}].timestamp", "out of range", reason=reasons.INVALID_TIMESTAMP
            ) from None
    return timestamp_from_proto(message, f"events[{index}].timestamp")  # raises with its field


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
        # What timestamp_to_proto makes, from the offset to the epoch (FromDatetime costs 3x).
        delta = moment - _EPOCH
        message = self[moment] = timestamp_pb2.Timestamp(
            seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1_000
        )
        return message


def result_to_proto(
    index: int, outcome: EventOutcome, timestamps: Timestamps
) -> meter_event_pb2.MeterEventResult:
    if outcome.error is None:
        assert outcome.stored is not None
        return meter_event_pb2.MeterEventResult(
            index=index,
            identifier=outcome.identifier,
            status=_RESULT_STATUSES.to_proto(outcome.status),  # type: ignore[arg-type]
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
        status=_RESULT_STATUSES.to_proto(outcome.status),  # type: ignore[arg-type]
        reason=error.reason,
        message=error.message,
        field=f"events[{index}].{field}" if field else f"events[{index}]",
    )


def exception_results_to_proto(batch: IngestedBatch) -> list[meter_event_pb2.MeterEventResult]:
    """Results of the events of a batch that were not accepted (a stream's answer), in order."""
    timestamps = Timestamps()
    return [result_to_proto(index, outcome, timestamps) for index, outcome in batch.exceptions.items()]


async def batch_response_to_proto(batch: IngestedBatch) -> event_pb.BatchCreateMeterEventsResponse:
    """The answer to BatchCreateMeterEvents: one result per event, in order, and the counts.

    Results of accepted events (all but a few, usually) are written in the protobuf wire
    format and parsed once, as a whole: building thousands of result messages field by
    field costs more than storing the events. Their fields are the index, the identifier,
    the status and the two times, which accepted events of a batch mostly share. The event
    loop gets a turn every ``CHUNK`` events.
    """
    parts = []
    append = parts.append
    timestamps = Timestamps()
    encoded: dict[datetime, bytes] = {}
    received = _ACCEPTED_HEAD + _length_delimited(
        _CREATE_TIME_TAG, timestamps[batch.received_at].SerializeToString()
    )
    exceptions = batch.exceptions
    for index, event in enumerate(batch.events):
        if index and not index % CHUNK:
            await asyncio.sleep(0)
        if event is None or index in exceptions:
            body = result_to_proto(index, exceptions[index], timestamps).SerializeToString()
        elif event.clock_received_at is not None:  # received on the customer's test clock
            body = result_to_proto(index, batch.outcome(index), timestamps).SerializeToString()
        else:
            timestamp = encoded.get(event.timestamp)
            if timestamp is None:
                timestamp = encoded[event.timestamp] = _length_delimited(
                    _TIMESTAMP_TAG, timestamps[event.timestamp].SerializeToString()
                )
            identifier = event.identifier.encode()
            body = b"".join(
                (
                    _INDEX_TAG,
                    _varint(index),
                    _IDENTIFIER_TAG,
                    _varint(len(identifier)),
                    identifier,
                    timestamp,
                    received,
                )
            )
        append(_RESULTS_TAG)
        append(_varint(len(body)))
        append(body)
    accepted, duplicates, rejected = batch.counts()
    response = event_pb.BatchCreateMeterEventsResponse.FromString(b"".join(parts))
    response.accepted_count, response.duplicate_count, response.rejected_count = (
        accepted,
        duplicates,
        rejected,
    )
    return response


# Wire format (https://protobuf.dev/programming-guides/encoding/): a tag is the field
# number << 3 | the wire type (0 varint, 2 length-delimited). Field numbers come from
# the descriptors; all of them are below 16, so each tag is one byte.
_VARINT, _LENGTH_DELIMITED = 0, 2


def _tag(message: type, field: str, wire_type: int) -> bytes:
    return bytes([message.DESCRIPTOR.fields_by_name[field].number << 3 | wire_type])


_RESULT = meter_event_pb2.MeterEventResult
_RESULTS_TAG = _tag(event_pb.BatchCreateMeterEventsResponse, "results", _LENGTH_DELIMITED)
_INDEX_TAG = _tag(_RESULT, "index", _VARINT)
_IDENTIFIER_TAG = _tag(_RESULT, "identifier", _LENGTH_DELIMITED)
_ACCEPTED_HEAD = _tag(_RESULT, "status", _VARINT) + bytes(
    [meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED]
)
_TIMESTAMP_TAG = _tag(_RESULT, "timestamp", _LENGTH_DELIMITED)
_CREATE_TIME_TAG = _tag(_RESULT, "create_time", _LENGTH_DELIMITED)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS = [_encode_varint(value) for value in range(16_384)]


def _varint(value: int) -> bytes:
    return _VARINTS[value] if value < 16_384 else _encode_varint(value)


def _length_delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


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
