"""Page tokens through real servers: a token the suite issued pages on, in every service
and after a restart of the server; an altered one is INVALID_ARGUMENT (X-4)."""

from __future__ import annotations

import base64
import os

import grpc
import pytest

from drawdown import pagination
from drawdown.invoicing.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc
from drawdown.metering.v1 import meter_pb2, meter_service_pb2, meter_service_pb2_grpc
from tests.support.harness import Suite, bearer


def altered(token: str) -> str:
    """``token`` with its payload replaced by a well-formed one the suite never signed."""
    _, _, mac = token.partition(".")
    body = base64.urlsafe_b64encode(b'{"k":[{"t":"x"},7,null],"q":"0"}').decode().rstrip("=")
    return f"{body}.{mac}"


async def test_a_real_token_pages_on_and_an_altered_one_is_invalid_argument(running_suite: Suite) -> None:
    admin = bearer(running_suite.admin_key)
    customers = customer_service_pb2_grpc.CustomerServiceStub(running_suite.channel("invoicing"))
    for name in ("Jenny Rosen", "Hypernian"):
        await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name=name)),
            metadata=admin,
        )
    first = await customers.ListCustomers(
        customer_service_pb2.ListCustomersRequest(page_size=1), metadata=admin
    )
    second = await customers.ListCustomers(
        customer_service_pb2.ListCustomersRequest(page_size=1, page_token=first.next_page_token),
        metadata=admin,
    )
    assert {c.name for c in [*first.customers, *second.customers]} == {"Jenny Rosen", "Hypernian"}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(page_size=1, page_token=altered(first.next_page_token)),
            metadata=admin,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_token_survives_a_server_restart(running_suite: Suite) -> None:
    admin = bearer(running_suite.admin_key)
    meters = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    for name in ("input_tokens", "output_tokens"):
        await meters.CreateMeter(
            meter_service_pb2.CreateMeterRequest(
                meter=meter_pb2.Meter(
                    display_name=name, event_name=name, aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM
                )
            ),
            metadata=admin,
        )
    first = await meters.ListMeters(meter_service_pb2.ListMetersRequest(page_size=1), metadata=admin)
    await running_suite.stop("metering")
    pagination.use_signing_key(os.urandom(32))  # as in a process that has not started a server yet
    await running_suite.restart("metering")  # a replica started later reads the same tokens
    async with grpc.aio.insecure_channel(running_suite.address("metering")) as channel:
        meters = meter_service_pb2_grpc.MeterServiceStub(channel)
        second = await meters.ListMeters(
            meter_service_pb2.ListMetersRequest(page_size=1, page_token=first.next_page_token), metadata=admin
        )
        assert {m.event_name for m in [*first.meters, *second.meters]} == {"input_tokens", "output_tokens"}
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await meters.ListMeters(
                meter_service_pb2.ListMetersRequest(page_size=1, page_token=altered(first.next_page_token)),
                metadata=admin,
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
