"""Health follows the database (O-2): NOT_SERVING for the server and each of its services
while PostgreSQL is down, SERVING again once it is back, and calls work after."""

from __future__ import annotations

import asyncio

import grpc
from google.type import money_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2, credit_grant_service_pb2_grpc
from drawdown.invoicing.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc
from drawdown.metering.v1 import meter_pb2, meter_service_pb2, meter_service_pb2_grpc
from drawdown.rpc.reflection import V1_SERVICE_NAME
from tests.support.harness import Suite, bearer
from tests.support.postgres import EmbeddedTestServer, needs_restartable_postgres

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The probe runs every second and waits 2 s for an answer; the rest is slack for a busy machine.
STATUS_CHANGE_TIMEOUT_SECONDS = 20.0
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


async def health_names(channel: grpc.aio.Channel) -> list[str]:
    """ "" and every service the server lists by reflection, but health and reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    listed: set[str] = set()
    async for reply in stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    ):
        listed |= {service.name for service in reply.list_services_response.service}
    return ["", *sorted(listed - {HEALTH_SERVICE, reflection.SERVICE_NAME, V1_SERVICE_NAME})]


async def next_status(watch: grpc.aio.UnaryStreamCall) -> int:
    async with asyncio.timeout(STATUS_CHANGE_TIMEOUT_SECONDS):
        return (await watch.read()).status


@needs_restartable_postgres
async def test_health_is_not_serving_while_the_database_is_down_and_serving_once_it_is_back(
    running_suite: Suite,
) -> None:
    watches = {}
    for service in ("metering", "credits", "invoicing"):
        channel = running_suite.channel(service)
        stub = health_pb2_grpc.HealthStub(channel)
        for name in await health_names(channel):
            watches[service, name] = stub.Watch(health_pb2.HealthCheckRequest(service=name))
    assert len(watches) > 3
    for watch in watches.values():
        assert await next_status(watch) == SERVING

    postgres = EmbeddedTestServer(running_suite.database_url)
    await postgres.stop()
    try:
        for key, watch in watches.items():
            assert await next_status(watch) == NOT_SERVING, key
    finally:
        await postgres.start()
    for key, watch in watches.items():
        assert await next_status(watch) == SERVING, key
    for watch in watches.values():
        watch.cancel()

    admin = bearer(running_suite.admin_key)
    await meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering")).CreateMeter(
        meter_service_pb2.CreateMeterRequest(
            meter=meter_pb2.Meter(
                display_name="Tokens",
                event_name="tokens",
                aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
            )
        ),
        metadata=admin,
    )
    created = await customer_service_pb2_grpc.CustomerServiceStub(
        running_suite.channel("invoicing")
    ).CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name="Jenny Rosen")),
        metadata=admin,
    )
    await credit_grant_service_pb2_grpc.CreditGrantServiceStub(
        running_suite.channel("credits")
    ).CreateCreditGrant(
        credit_grant_service_pb2.CreateCreditGrantRequest(
            credit_grant=credit_grant_pb2.CreditGrant(
                customer_id=created.customer.id,
                name="Purchased credits",
                amount=money_pb2.Money(currency_code="USD", units=10),
                category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
                applicability_config=credit_grant_pb2.ApplicabilityConfig(
                    price_type=credit_grant_pb2.PRICE_TYPE_METERED
                ),
            )
        ),
        metadata=admin,
    )
