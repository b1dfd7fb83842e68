"""The shared runtime through real servers on loopback and a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from drawdown.auth.roles import Role
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from drawdown.rpc.server import ServiceDefinition
from tests.support import probe_service
from tests.support.harness import Suite, bearer, start_one

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_SERVICES = {
    "metering": {"drawdown.metering.v1.MeterService", "drawdown.metering.v1.MeterEventService"},
    "credits": {
        "drawdown.credits.v1.CreditGrantService",
        "drawdown.credits.v1.CreditBalanceService",
        "drawdown.credits.v1.InvoiceCreditService",
    },
    "invoicing": {
        "drawdown.invoicing.v1.CustomerService",
        "drawdown.invoicing.v1.CatalogService",
        "drawdown.invoicing.v1.SubscriptionService",
        "drawdown.invoicing.v1.InvoiceService",
        "drawdown.invoicing.v1.TestClockService",
    },
}
for served in EXPECTED_SERVICES.values():
    served.add("drawdown.auth.v1.ApiKeyService")  # every service manages the keys (O-3)


@pytest.mark.parametrize("service", sorted(EXPECTED_SERVICES))
async def test_health_reports_serving_for_the_server_and_each_service(
    running_suite: Suite, service: str
) -> None:
    stub = health_pb2_grpc.HealthStub(running_suite.channel(service))
    for name in ("", *EXPECTED_SERVICES[service]):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


@pytest.mark.parametrize("service", sorted(EXPECTED_SERVICES))
async def test_reflection_lists_the_service_health_and_reflection(running_suite: Suite, service: str) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(running_suite.channel(service))
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    listed = set()
    async for response in responses:
        listed = {s.name for s in response.list_services_response.service}
    assert EXPECTED_SERVICES[service] <= listed
    assert {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    } <= listed


@pytest.mark.parametrize("service", sorted(EXPECTED_SERVICES))
async def test_reflection_v1_lists_the_services_and_describes_them(
    running_suite: Suite, service: str
) -> None:
    # v1's messages are v1alpha's under another package: the same classes encode a v1 call.
    info = running_suite.channel(service).stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    wanted = sorted(EXPECTED_SERVICES[service])[0]
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=wanted),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
    ]
    replies = [reply async for reply in info(iter(requests))]
    assert EXPECTED_SERVICES[service] <= {s.name for s in replies[0].list_services_response.service}
    described = [
        descriptor_pb2.FileDescriptorProto.FromString(f)
        for f in replies[1].file_descriptor_response.file_descriptor_proto
    ]
    assert wanted.rsplit(".", 1)[1] in {s.name for f in described for s in f.service}
    itself = descriptor_pb2.FileDescriptorProto.FromString(
        replies[2].file_descriptor_response.file_descriptor_proto[0]
    )
    assert (itself.package, itself.service[0].name) == ("grpc.reflection.v1", "ServerReflection")


async def test_call_without_key_is_unauthenticated(running_suite: Suite) -> None:
    stub = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListMeters(meter_service_pb2.ListMetersRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(raised.value) == "API_KEY_MISSING"


async def test_call_with_unknown_key_is_unauthenticated(running_suite: Suite) -> None:
    stub = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    forged = running_suite.admin_key[:-4] + "AAAA"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListMeters(meter_service_pb2.ListMetersRequest(), metadata=bearer(forged))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(raised.value) == "API_KEY_INVALID"


async def test_key_whose_role_lacks_the_permission_is_denied(running_suite: Suite) -> None:
    stub = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    ingest_only = running_suite.key(Role.INGEST)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListMeters(meter_service_pb2.ListMetersRequest(), metadata=bearer(ingest_only))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(raised.value) == "PERMISSION_DENIED"


async def test_domain_error_carries_reason_and_field_violations(database_url: str) -> None:
    async with start_one(probe_service.DEFINITION, database_url) as server:
        from drawdown.auth import store

        key = store.create_key(database_url, Role.ADMIN, "probe").token
        async with grpc.aio.insecure_channel(server.address) as channel:
            fail = channel.unary_unary(f"/{probe_service.SERVICE}/Fail")
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await fail(b"", metadata=bearer(key))
    status = rpc_status.from_call(raised.value)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad_request)
    assert (info.reason, info.domain) == ("INVALID_VALUE", "drawdown.dev")
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("payload.value", "'abc' is not a decimal number")
    ]


async def test_unexpected_exception_is_internal_without_leaking_its_message(database_url: str) -> None:
    async with start_one(probe_service.DEFINITION, database_url) as server:
        from drawdown.auth import store

        key = store.create_key(database_url, Role.ADMIN, "probe").token
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await channel.unary_unary(f"/{probe_service.SERVICE}/Crash")(b"", metadata=bearer(key))
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (raised.value.details() or "")


async def test_rpc_not_built_yet_answers_unimplemented(database_url: str) -> None:
    from drawdown.auth import store

    def register(server: grpc.aio.Server, context: object) -> list[str]:
        # The generated base servicer: every RPC is "not built yet".
        meter_service_pb2_grpc.add_MeterServiceServicer_to_server(
            meter_service_pb2_grpc.MeterServiceServicer(), server
        )
        return []

    unbuilt = ServiceDefinition(name="metering", migrations=[], register=register)
    key = store.create_key(database_url, Role.ADMIN, "probe").token
    async with (
        start_one(unbuilt, database_url) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        stub = meter_service_pb2_grpc.MeterServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListMeters(meter_service_pb2.ListMetersRequest(), metadata=bearer(key))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_sigterm_drains_an_in_flight_call(database_url: str) -> None:
    from drawdown.auth import store

    key = store.create_key(database_url, Role.ADMIN, "probe").token
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.probe_service", database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        address = process.stdout.readline().split()[3]  # "probe listening on <address> ..."
        with grpc.insecure_channel(address) as channel:
            in_flight = channel.unary_unary(f"/{probe_service.SERVICE}/Wait").future(
                b"", metadata=bearer(key), timeout=30
            )
            assert process.stdout.readline().strip() == "in-flight"
            process.send_signal(signal.SIGTERM)
            assert in_flight.result() == b"drained"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    assert status is not None and status.details[0].Unpack(info)
    return info.reason
