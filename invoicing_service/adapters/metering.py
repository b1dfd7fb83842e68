"""The metering service, as invoicing needs it: meters (I-2), usage (M-20, I-10) and test
clock times (I-18)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from drawdown import errors
from drawdown.deadlines import Deadline
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as meter_event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as meter_event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_service_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.metering.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.metering.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.rpc.clients import ServiceChannel
from drawdown.rpc.convert import timestamp_to_proto
from invoicing_service.adapters.peers import (
    READ_CAP,
    WRITE_CAP,
    Metadata,
    TestClockTimes,
    one_or_batches,
    translated,
)
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import Period

# The most queries one BatchListMeterEventSummaries takes (its contract's limit).
MAX_SUMMARY_QUERIES = 1000


@dataclass(frozen=True)
class UsageQuery:
    """A meter's usage by one customer over one period (M-20)."""

    meter_id: str
    customer_id: str
    period: Period


@dataclass(frozen=True)
class EventShape:
    """How a meter reads its events (M-1): which event name, and which payload keys carry
    the customer and the value. Immutable once the meter exists (M-3)."""

    event_name: str
    customer_key: str
    value_key: str


class Metering:
    """Stubs to metering on one channel."""

    def __init__(self, channel: ServiceChannel, metadata: Metadata) -> None:
        self._metadata = metadata
        self._shapes: dict[str, EventShape] = {}
        self._meters = meter_grpc.MeterServiceStub(channel)
        self._events = meter_event_grpc.MeterEventServiceStub(channel)
        self.clock_times = TestClockTimes(
            "metering", clock_grpc.TestClockTimeServiceStub(channel), clock_pb, metadata
        )

    async def check_meter_active(self, meter_id: str, deadline: Deadline) -> None:
        """A metered price needs an existing, active meter (I-2)."""
        async with translated("metering"):
            reply = await self._meters.GetMeter(
                meter_service_pb.GetMeterRequest(meter_id=meter_id),
                metadata=self._metadata,
                timeout=deadline.timeout(READ_CAP),
            )
        if reply.meter.status != meter_pb2.METER_STATUS_ACTIVE:
            raise errors.FailedPrecondition(
                f"meter {meter_id} is inactive",
                reason=reasons.METER_INACTIVE,
                metadata={"meter_id": meter_id},
            )

    async def event_shape(self, meter_id: str, deadline: Deadline) -> EventShape:
        """The meter's event shape, read once per process (it never changes, M-3)."""
        if (shape := self._shapes.get(meter_id)) is not None:
            return shape
        async with translated("metering"):
            reply = await self._meters.GetMeter(
                meter_service_pb.GetMeterRequest(meter_id=meter_id),
                metadata=self._metadata,
                timeout=deadline.timeout(READ_CAP),
            )
        meter = reply.meter
        shape = EventShape(
            meter.event_name, meter.customer_mapping.event_payload_key, meter.value_settings.event_payload_key
        )
        self._shapes[meter_id] = shape
        return shape

    async def record_usage(
        self,
        meter_id: str,
        identifier: str,
        customer_id: str,
        quantity: Decimal,
        timestamp: datetime,
        deadline: Deadline,
    ) -> None:
        """Record ``quantity`` for the customer on the meter as one event with
        ``identifier`` (M-13): a retry with the same content counts once."""
        shape = await self.event_shape(meter_id, deadline)
        async with translated("metering"):
            await self._events.CreateMeterEvent(
                meter_event_pb.CreateMeterEventRequest(
                    meter_event=meter_event_pb2.MeterEvent(
                        event_name=shape.event_name,
                        identifier=identifier,
                        payload={shape.customer_key: customer_id, shape.value_key: str(quantity)},
                        timestamp=timestamp_to_proto(timestamp),
                    )
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(WRITE_CAP),
            )

    async def usage(self, queries: Sequence[UsageQuery], deadline: Deadline) -> list[Decimal]:
        """Each meter's aggregate for its customer over exactly its period (M-20, I-10), in
        order: one ListMeterEventSummaries for one query, BatchListMeterEventSummaries
        calls of up to 1,000 for more."""
        requests = [
            meter_event_pb.ListMeterEventSummariesRequest(
                meter_id=q.meter_id,
                customer_id=q.customer_id,
                start_time=timestamp_to_proto(q.period.start),
                end_time=timestamp_to_proto(q.period.end),
                page_size=1,
            )
            for q in queries
            if q.period.end > q.period.start
        ]
        async with translated("metering"):
            replies = await one_or_batches(
                requests,
                self._events.ListMeterEventSummaries,
                self._events.BatchListMeterEventSummaries,
                meter_event_pb.BatchListMeterEventSummariesRequest,
                MAX_SUMMARY_QUERIES,
                deadline.timeout(READ_CAP),
                self._metadata,
            )
        answered = iter(replies)
        return [_aggregate(next(answered)) if q.period.end > q.period.start else Decimal(0) for q in queries]


def _aggregate(reply: meter_event_pb.ListMeterEventSummariesResponse) -> Decimal:
    rows = reply.meter_event_summaries
    return Decimal(rows[0].aggregated_value.value) if rows else Decimal(0)
