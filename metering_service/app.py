"""The metering service: meters, meter events, usage summaries."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from drawdown.metering.v1 import meter_event_service_pb2, meter_event_service_pb2_grpc
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition
from metering_service.store.schema import MIGRATIONS


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    meter_service_pb2_grpc.add_MeterServiceServicer_to_server(meter_service_pb2_grpc.MeterServiceServicer(), server)
    meter_event_service_pb2_grpc.add_MeterEventServiceServicer_to_server(
        meter_event_service_pb2_grpc.MeterEventServiceServicer(), server
    )
    return [
        service_full_name(meter_service_pb2, "MeterService"),
        service_full_name(meter_event_service_pb2, "MeterEventService"),
    ]


DEFINITION = ServiceDefinition(name="metering", migrations=[MIGRATIONS], register=register)
