"""Every RPC of the three services, called with requests built from its message descriptor
(random and boundary values, ids of real resources mixed in), through real servers: no
answer is INTERNAL, UNKNOWN, UNAVAILABLE or DEADLINE_EXCEEDED, and every server still
serves afterwards (X-5, X-7, X-8).

The run is bounded: ``DRAWDOWN_FUZZ_CALLS`` requests per RPC (default 40) from the seed
``DRAWDOWN_FUZZ_SEED`` (default fixed, so a failure reproduces; CI may set another).
"""

from __future__ import annotations

import os
import random

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown.auth.roles import Role
from drawdown.credits.v1 import (
    credit_balance_service_pb2,
    credit_grant_service_pb2,
    invoice_credit_service_pb2,
)
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    customer_service_pb2,
    invoice_service_pb2,
    subscription_service_pb2,
    test_clock_service_pb2,
)
from drawdown.metering.v1 import meter_event_service_pb2, meter_service_pb2
from tests.integration.invoicing.invoicing_builders import (
    Invoicing,
    clock_at,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    licensed_price,
    subscribe,
)
from tests.support.fuzz import RequestFuzzer
from tests.support.harness import bearer

SERVICES = {
    "metering": (meter_service_pb2, meter_event_service_pb2),
    "credits": (credit_grant_service_pb2, credit_balance_service_pb2, invoice_credit_service_pb2),
    "invoicing": (
        customer_service_pb2,
        catalog_service_pb2,
        subscription_service_pb2,
        invoice_service_pb2,
        test_clock_service_pb2,
    ),
}
FAULTS = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
CALLS = int(os.environ.get("DRAWDOWN_FUZZ_CALLS", "40"))
SEED = int(os.environ.get("DRAWDOWN_FUZZ_SEED", "20261202"))
STREAM_MESSAGES = 3


def methods() -> list[tuple[str, str]]:
    """(service, full method name) of every RPC in the contracts."""
    found = []
    for service, modules in SERVICES.items():
        for module in modules:
            for descriptor in module.DESCRIPTOR.services_by_name.values():
                found += [(service, method.full_name) for method in descriptor.methods]
    return found


async def known_ids(invoicing: Invoicing) -> list[str]:
    """Ids of real resources of every kind, so fuzzed requests get past NOT_FOUND."""
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    clocked = await customer(invoicing, clock_id)
    wall = await customer(invoicing, name="wall clock")
    metered = (await subscribe(invoicing, clocked, catalog.input_price, catalog.output_price)).subscription
    seats = (await subscribe(invoicing, wall, await licensed_price(invoicing), quantity=2)).subscription
    grant = await invoicing.grant(clocked, 1000)
    return [
        catalog.input_meter,
        catalog.output_meter,
        catalog.input_price,
        catalog.output_price,
        clock_id,
        clocked,
        wall,
        metered.id,
        seats.id,
        seats.latest_invoice_id,
        grant,
        invoicing.event_names[catalog.input_meter],
    ]


async def call(
    channel: grpc.aio.Channel, method: str, requests: list[Message], metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    descriptor = descriptor_pool.Default().FindMethodByName(method)
    path = f"/{descriptor.containing_service.full_name}/{descriptor.name}"
    options = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": lambda data: data,
    }
    if descriptor.client_streaming:  # StreamMeterEvents: a request, then its answer
        stream = channel.stream_stream(path, **options)(metadata=metadata, timeout=10)
        await _in_lockstep(stream, requests)
        return await stream.code()
    stub = (
        channel.unary_stream(path, **options)
        if descriptor.server_streaming
        else channel.unary_unary(path, **options)
    )
    answer = stub(requests[0], metadata=metadata, timeout=10)
    await _read_all(answer, descriptor.server_streaming)
    return await answer.code()


async def _in_lockstep(stream, requests: list[Message]) -> None:
    """Each request is written once the answer to the one before it came, so the client
    never writes while the server ends the call: grpc's client then reports its own
    INTERNAL ("Internal error from Core") instead of the server's status."""
    try:
        for request in requests:
            await stream.write(request)
            if await stream.read() is grpc.aio.EOF:
                return
        await stream.done_writing()
        while await stream.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError:
        return  # the status is read from the call


async def _read_all(answer, server_streaming: bool) -> None:
    try:
        if server_streaming:
            async for _ in answer:
                pass
        else:
            await answer
    except grpc.aio.AioRpcError:
        return  # the status is read from the call


@pytest.mark.slow
async def test_no_fuzzed_request_breaks_a_service(database_url: str) -> None:
    async with invoicing_on_real_peers(database_url) as invoicing:
        fuzzer = RequestFuzzer(random.Random(SEED), await known_ids(invoicing))
        admin = invoicing.metadata
        service_key = bearer(invoicing.suite.key(Role.SERVICE))
        faults: list[str] = []
        for service, method in methods():
            descriptor = descriptor_pool.Default().FindMethodByName(method)
            metadata = service_key if descriptor.containing_service.name == "InvoiceCreditService" else admin
            channel = invoicing.suite.channel(service)
            for attempt in range(CALLS):
                count = STREAM_MESSAGES if descriptor.client_streaming else 1
                requests = [fuzzer.message(descriptor.input_type) for _ in range(count)]
                code = await call(channel, method, requests, metadata)
                if code in FAULTS:
                    faults.append(f"{method} #{attempt}: {code.name}: {requests[0]}"[:600])
        for service in SERVICES:
            health = health_pb2_grpc.HealthStub(invoicing.suite.channel(service))
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
        assert not faults, f"{len(faults)} faults:\n" + "\n".join(faults[:60])
