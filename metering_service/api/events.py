"""MeterEventService servicer: convert, call the use case, convert (M-10..M-21)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc

from drawdown.db.engine import UnitOfWork
from drawdown.metering.v1 import meter_event_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.rpc.convert import optional_timestamp
from drawdown.rpc.idempotent import Mutations
from metering_service.api import convert
from metering_service.domain.aggregation import SummaryRow
from metering_service.domain.events import EventInput
from metering_service.service.events import Cancellation, EventOutcome, EventStatus, GroupCommit, Ingestion
from metering_service.service.summaries import Summaries, SummaryRequest


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
        outcomes = await self._ingestion.ingest_batch(_inputs(request.events))
        timestamps = convert.Timestamps()
        results = [
            convert.result_to_proto(index, outcome, timestamps) for index, outcome in enumerate(outcomes)
        ]
        accepted, duplicates, rejected = _counts(outcomes)
        return event_pb.BatchCreateMeterEventsResponse(
            results=results, accepted_count=accepted, duplicate_count=duplicates, rejected_count=rejected
        )

    async def StreamMeterEvents(
        self, requests: AsyncIterator[event_pb.StreamMeterEventsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[event_pb.StreamMeterEventsResponse]:
        # The next request is read and converted while this batch is stored and committed,
        # so the protobuf work overlaps the database's. Batches are still ingested one at a
        # time and in order, each answered after its own commit (M-14); the reader stays at
        # most two converted batches ahead (one queued, one waiting to be), so a slow
        # database still holds the client back (flow control, M-15). A failure to read or
        # convert a request is raised in its turn, after the answers to the batches before it.
        ahead: asyncio.Queue[tuple[int, list[EventInput]] | Exception | None] = asyncio.Queue(maxsize=1)

        async def read() -> None:
            try:
                async for request in requests:
                    await ahead.put((request.sequence, _inputs(request.events)))
            except Exception as error:  # noqa: BLE001 - raised by the handler in order
                await ahead.put(error)
            else:
                await ahead.put(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await ahead.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                sequence, inputs = item
                outcomes = await self._ingestion.ingest_batch(inputs, sequence=sequence)
                accepted, duplicates, rejected = _counts(outcomes)
                timestamps = convert.Timestamps()
                yield event_pb.StreamMeterEventsResponse(
                    sequence=sequence,
                    accepted_count=accepted,
                    duplicate_count=duplicates,
                    rejected_count=rejected,
                    results=[
                        convert.result_to_proto(index, outcome, timestamps)
                        for index, outcome in enumerate(outcomes)
                        if outcome.status is not EventStatus.ACCEPTED
                    ],
                )
        finally:
            reader.cancel()

    async def CancelMeterEvent(
        self, request: event_pb.CancelMeterEventRequest, context: grpc.aio.ServicerContext
    ) -> event_pb.CancelMeterEventResponse:
        async def work(uow: UnitOfWork) -> event_pb.CancelMeterEventResponse:
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


def _inputs(events: Sequence[meter_event_pb2.MeterEvent]) -> list[EventInput]:
    return [convert.event_input_from_proto(event, f"events[{index}]") for index, event in enumerate(events)]


def _counts(outcomes: list[EventOutcome]) -> tuple[int, int, int]:
    accepted = sum(1 for outcome in outcomes if outcome.status is EventStatus.ACCEPTED)
    duplicates = sum(1 for outcome in outcomes if outcome.status is EventStatus.DUPLICATE)
    return accepted, duplicates, len(outcomes) - accepted - duplicates
