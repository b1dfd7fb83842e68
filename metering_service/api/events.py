"""MeterEventService servicer: convert, call the use case, convert (M-10..M-21)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import grpc

from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.rpc.convert import optional_timestamp
from drawdown.rpc.idempotent import Mutations
from metering_service.api import convert
from metering_service.domain.aggregation import SummaryRow
from metering_service.domain.events import EventInput
from metering_service.service.events import Cancellation, EventStatus, GroupCommit, Ingestion, StreamIngestion
from metering_service.service.summaries import Summaries, SummaryRequest
from metering_service.store.unit import MeteringUnit


class MeterEventServicer(event_grpc.MeterEventServiceServicer):
    def __init__(
        self,
        ingestion: Ingestion,
        group_commit: GroupCommit,
        cancellation: Cancellation,
        summaries: Summaries,
        mutations: Mutations,
    ) -> None:
        self._ingestion = ingestion
        self._group_commit = group_commit
        self._cancellation = cancellation
        self._summaries = summaries
        self._mutations = mutations

    async def CreateMeterEvent(
        self, request: event_pb.CreateMeterEventRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.CreateMeterEventResponse:
        event = convert.event_input_from_proto(request.meter_event, "meter_event")
        outcome = await self._group_commit.submit(event)
        if outcome.error is not None:
            with convert.fields_under("meter_event."):
                raise outcome.error
        return event_pb.CreateMeterEventResponse(
            meter_event=convert.stored_event_to_proto(outcome),
            duplicate=outcome.status is EventStatus.DUPLICATE,
        )

    async def BatchCreateMeterEvents(
        self, request: event_pb.BatchCreateMeterEventsRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.BatchCreateMeterEventsResponse:
        batch = await self._ingestion.ingest_batch(await convert.event_inputs_from_proto(request.events))
        return await convert.batch_response_to_proto(batch)

    async def StreamMeterEvents(
        self, requests: AsyncIterator[event_pb.StreamMeterEventsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[event_pb.StreamMeterEventsResponse]:
        # Up to IN_FLIGHT batches are in the database at once; each is answered after its
        # own commit, in the order sent, and no more are read meanwhile (flow control, M-15).
        async def batches() -> AsyncIterator[tuple[int, list[EventInput]]]:
            async for request in requests:
                yield request.sequence, await convert.event_inputs_from_proto(request.events)

        async with aclosing(StreamIngestion(self._ingestion).run(batches())) as answers:
            async for sequence, batch in answers:
                accepted, duplicates, rejected = batch.counts()
                yield event_pb.StreamMeterEventsResponse(
                    sequence=sequence,
                    accepted_count=accepted,
                    duplicate_count=duplicates,
                    rejected_count=rejected,
                    results=convert.exception_results_to_proto(batch),
                )

    async def CancelMeterEvent(
        self, request: event_pb.CancelMeterEventRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.CancelMeterEventResponse:
        async def work(uow: MeteringUnit) -> event_pb.CancelMeterEventResponse:
            cancelled = await self._cancellation.cancel(uow, request.event_name, request.identifier)
            return event_pb.CancelMeterEventResponse(meter_event=convert.cancelled_event_to_proto(cancelled))

        return await self._mutations.run("CancelMeterEvent", request, event_pb.CancelMeterEventResponse, work)

    async def ListMeterEventSummaries(
        self, request: event_pb.ListMeterEventSummariesRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.ListMeterEventSummariesResponse:
        return _summaries_to_proto(request, *await self._summaries.list(_summary_request(request)))

    async def BatchListMeterEventSummaries(
        self, request: event_pb.BatchListMeterEventSummariesRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.BatchListMeterEventSummariesResponse:
        pages = await self._summaries.batch([_summary_request(query) for query in request.requests])
        return event_pb.BatchListMeterEventSummariesResponse(
            responses=[
                _summaries_to_proto(query, *page) for query, page in zip(request.requests, pages, strict=True)
            ]
        )


def _summary_request(request: event_pb.ListMeterEventSummariesRequest) -> SummaryRequest:
    return SummaryRequest(
        meter_id=request.meter_id,
        customer_id=request.customer_id,
        start=optional_timestamp(request, "start_time"),
        end=optional_timestamp(request, "end_time"),
        grouping=convert.grouping_window_from_proto(request.value_grouping_window),
        group_by=list(request.group_by),
        page_size=request.page_size,
        page_token=request.page_token,
    )


def _summaries_to_proto(
    request: event_pb.ListMeterEventSummariesRequest, rows: list[SummaryRow], token: str
) -> event_pb.ListMeterEventSummariesResponse:
    return event_pb.ListMeterEventSummariesResponse(
        meter_event_summaries=[
            convert.summary_to_proto(request.meter_id, request.customer_id, row) for row in rows
        ],
        next_page_token=token,
    )
