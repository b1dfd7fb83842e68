"""The fault-injection harness itself, on a real server: stop/restart and injected UNAVAILABLE."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from tests.support.faults import Faults
from tests.support.harness import bearer, start_suite


async def test_injected_faults_fail_the_chosen_calls_then_pass_through(database_url: str) -> None:
    faults = Faults()
    async with start_suite(database_url, faults={"metering": faults}) as suite:
        stub = meter_service_pb2_grpc.MeterServiceStub(suite.channel("metering"))
        faults.fail("MeterService/GetMeter", when="before")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetMeter(
                meter_service_pb2.GetMeterRequest(meter_id="mtr_x"), metadata=bearer(suite.admin_key)
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetMeter(
                meter_service_pb2.GetMeterRequest(meter_id="mtr_x"), metadata=bearer(suite.admin_key)
            )
        assert raised.value.code() != grpc.StatusCode.UNAVAILABLE
        assert faults.failed["/drawdown.metering.v1.MeterService/GetMeter"] == 1


async def test_a_stopped_service_is_unavailable_until_restarted_on_its_port(database_url: str) -> None:
    async with start_suite(database_url) as suite:
        port = suite.servers["credits"].port
        await suite.stop("credits")
        stub = health_pb2_grpc.HealthStub(suite.channel("credits"))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        await suite.restart("credits")
        assert suite.servers["credits"].port == port
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
