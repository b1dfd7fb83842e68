"""A small client for metering API tests: stubs, metadata, and builders of requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.support.harness import Suite

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
JENNY = "cus_jenny"


@dataclass
class Metering:
    suite: Suite
    metadata: tuple[tuple[str, str], ...]
    channel: grpc.aio.Channel | None = None  # the suite's shared channel unless set

    @property
    def meters(self) -> meter_grpc.MeterServiceStub:
        return meter_grpc.MeterServiceStub(self.channel or self.suite.channel("metering"))

    @property
    def events(self) -> event_grpc.MeterEventServiceStub:
        return event_grpc.MeterEventServiceStub(self.channel or self.suite.channel("metering"))

    @asynccontextmanager
    async def on_own_connection(self) -> AsyncIterator[Metering]:
        """This client on a connection of its own (gRPC otherwise shares one connection
        among the channels to an address)."""
        channel = grpc.aio.insecure_channel(
            self.suite.address("metering"), options=[("grpc.use_local_subchannel_pool", 1)]
        )
        try:
            yield replace(self, channel=channel)
        finally:
            await channel.close()

    async def create_meter(
        self,
        event_name: str = "hypernian_input_tokens",
        formula: int = meter_pb2.AGGREGATION_FORMULA_SUM,
        *,
        dimension_keys: tuple[str, ...] = (),
        window: int = meter_pb2.EVENT_TIME_WINDOW_UNSPECIFIED,
    ) -> meter_pb2.Meter:
        reply = await self.meters.CreateMeter(
            meter_pb.CreateMeterRequest(
                meter=meter_pb2.Meter(
                    display_name=f"Meter {event_name}",
                    event_name=event_name,
                    aggregation_formula=formula,  # type: ignore[arg-type]
                    dimension_keys=dimension_keys,
                    event_time_window=window,  # type: ignore[arg-type]
                )
            ),
            metadata=self.metadata,
        )
        return reply.meter

    async def send(self, event: meter_event_pb2.MeterEvent) -> event_pb.CreateMeterEventResponse:
        return await self.events.CreateMeterEvent(
            event_pb.CreateMeterEventRequest(meter_event=event), metadata=self.metadata
        )

    async def batch(
        self, events: list[meter_event_pb2.MeterEvent]
    ) -> event_pb.BatchCreateMeterEventsResponse:
        return await self.events.BatchCreateMeterEvents(
            event_pb.BatchCreateMeterEventsRequest(events=events), metadata=self.metadata
        )

    async def cancel(self, event_name: str, identifier: str) -> event_pb.CancelMeterEventResponse:
        return await self.events.CancelMeterEvent(
            event_pb.CancelMeterEventRequest(event_name=event_name, identifier=identifier),
            metadata=self.metadata,
        )

    async def summaries(
        self,
        meter_id: str,
        start: datetime,
        end: datetime,
        *,
        customer_id: str = JENNY,
        window: int = meter_event_pb2.VALUE_GROUPING_WINDOW_UNSPECIFIED,
        group_by: tuple[str, ...] = (),
        page_size: int = 100,
    ) -> list[meter_event_pb2.MeterEventSummary]:
        """Every row of the summary, following page tokens."""
        rows: list[meter_event_pb2.MeterEventSummary] = []
        token = ""
        while True:
            reply = await self.events.ListMeterEventSummaries(
                event_pb.ListMeterEventSummariesRequest(
                    meter_id=meter_id,
                    customer_id=customer_id,
                    start_time=timestamp_to_proto(start),
                    end_time=timestamp_to_proto(end),
                    value_grouping_window=window,  # type: ignore[arg-type]
                    group_by=group_by,
                    page_size=page_size,
                    page_token=token,
                ),
                metadata=self.metadata,
            )
            rows.extend(reply.meter_event_summaries)
            token = reply.next_page_token
            if not token:
                return rows

    async def total(self, meter_id: str, start: datetime, end: datetime, customer_id: str = JENNY) -> Decimal:
        (row,) = await self.summaries(meter_id, start, end, customer_id=customer_id)
        return Decimal(row.aggregated_value.value)


def event(
    identifier: str,
    value: str | None = "1",
    *,
    event_name: str = "hypernian_input_tokens",
    customer: str = JENNY,
    timestamp: datetime | None = None,
    **extra: str,
) -> meter_event_pb2.MeterEvent:
    payload = {"customer_id": customer, **extra}
    if value is not None:
        payload["value"] = value
    message = meter_event_pb2.MeterEvent(event_name=event_name, identifier=identifier, payload=payload)
    if timestamp is not None:
        message.timestamp.CopyFrom(timestamp_to_proto(timestamp))
    return message


def error_of(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    """The status code, ErrorInfo reason and field-violation paths of a failed call."""
    status = rpc_status.from_call(error)
    reason, fields = "", []
    for detail in status.details if status else []:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad_request):
            fields = [violation.field for violation in bad_request.field_violations]
    return error.code(), reason, fields
