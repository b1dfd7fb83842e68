"""The metering service: meters, meter events, usage summaries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

import grpc

from drawdown.db.idempotency import IdempotencyStore
from drawdown.db.retention import REQUEST_ID_RETENTION, maintain_in_background, prune_in_background
from drawdown.events.serving import serve_events
from drawdown.metering.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    meter_event_service_pb2,
    meter_event_service_pb2_grpc,
    meter_service_pb2,
    meter_service_pb2_grpc,
    test_clock_time_service_pb2,
    test_clock_time_service_pb2_grpc,
)
from drawdown.rpc.idempotent import Mutations
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition
from metering_service.api.convert import EVENT_DATA
from metering_service.api.events import MeterEventServicer
from metering_service.api.meters import MeterServicer
from metering_service.api.test_clocks import TestClockTimeServicer
from metering_service.service.error_reports import ErrorReports
from metering_service.service.events import Cancellation, GroupCommit, Ingestion
from metering_service.service.meters import MeterUseCases
from metering_service.service.summaries import Summaries
from metering_service.service.test_clocks import TestClockUseCases
from metering_service.store.partitions import EventPartitions
from metering_service.store.schema import EVENT_TABLES, MIGRATIONS, idempotency_keys
from metering_service.store.unit import MeteringUnit


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    database, clock = context.database, context.clock
    events_service, _, _ = serve_events(
        server, context, EVENT_TABLES, EVENT_DATA, event_service_pb2, event_service_pb2_grpc
    )
    idempotency = IdempotencyStore(idempotency_keys)
    mutations = Mutations(database, idempotency, clock)
    prune_in_background(
        context, "metering request ids", partial(idempotency.prune, database), REQUEST_ID_RETENTION
    )
    # Weekly partitions of meter events: created ahead, opened, dropped after retention (O-6).
    maintain_in_background(context, "meter event partitions", EventPartitions(database).maintain)
    error_reports = ErrorReports(database, clock)
    context.background.append(
        asyncio.create_task(error_reports.run(context.shutting_down), name="metering.error_reports")
    )
    context.on_stop.append(error_reports.close)
    ingestion = Ingestion(database, clock, error_reports)
    group_commit = GroupCommit(ingestion)
    context.background.append(asyncio.create_task(group_commit.run(), name="metering.group_commit"))
    meter_service_pb2_grpc.add_MeterServiceServicer_to_server(
        MeterServicer(MeterUseCases(database, clock), mutations), server
    )
    meter_event_service_pb2_grpc.add_MeterEventServiceServicer_to_server(
        MeterEventServicer(ingestion, group_commit, Cancellation(clock), Summaries(database), mutations),
        server,
    )
    test_clock_time_service_pb2_grpc.add_TestClockTimeServiceServicer_to_server(
        TestClockTimeServicer(TestClockUseCases(clock), mutations), server
    )
    return [
        service_full_name(meter_service_pb2, "MeterService"),
        service_full_name(meter_event_service_pb2, "MeterEventService"),
        service_full_name(test_clock_time_service_pb2, "TestClockTimeService"),
        events_service,
    ]


DEFINITION = ServiceDefinition(
    name="metering", migrations=[MIGRATIONS], register=register, unit_of_work=MeteringUnit
)
