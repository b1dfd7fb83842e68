"""Real-time credits benchmark: AuthorizeUsage, CaptureUsageAuthorization and
GetCustomerLiveBalance against the same server's gRPC floor (R-1, R-2, R-4).

    python benchmarks/authorization_latency.py [--customers 200] [--calls 2000] [--clients 16]
                                               [--rates 100,200,400]

Starts PostgreSQL (``DRAWDOWN_DATABASE_URL``'s server, else an embedded one), a fresh
migrated database and the three services, each in its own process (``drawdown serve``),
then creates through the API a Hypernian catalog (3 ¢ per input token) and ``--customers``
customers, each with a 1,000,000 USD grant and a subscription (not measured). With
``--clients`` clients, each on its own connection to invoicing:

1. closed loop, ``--calls`` calls each: grpc.health.v1.Health/Check on invoicing (the
   floor: what the same server answers when a call does no work), AuthorizeUsage of 100
   tokens on a random customer, CaptureUsageAuthorization of those authorizations (60
   tokens), GetCustomerLiveBalance; each printed as calls/s and as a ratio of the floor;
   and the same for GetCreditBalanceSummary against the credits server's own floor;
2. open loop at each of ``--rates`` calls/s: the same three RPCs, latency counted from
   each call's turn (the wait for a free client included).

Prints p50 / p99 per measurement. Targets on a 2-core machine: authorize p99 ≤ 10 ms and
capture p99 ≤ 20 ms at 200 calls/s; authorize throughput ≥ 40 % of the floor;
GetCreditBalanceSummary ≥ 70 % of credits' floor. It is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.type import decimal_pb2, money_pb2

from benchmarks.credits_latency import at_rate, concurrently, report
from benchmarks.scratch import scratch_database
from benchmarks.service_process import OWN_CONNECTION, serve
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    price_pb2,
    product_pb2,
    subscription_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
)
from drawdown.invoicing.v1 import usage_authorization_service_pb2 as authorization_pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc as authorization_grpc
from drawdown.metering.v1 import meter_pb2, meter_service_pb2, meter_service_pb2_grpc
from tests.support.harness import bearer


async def throughput(clients: int, calls: int, one_call) -> tuple[float, list[float]]:
    began = time.perf_counter()
    latencies = await concurrently(clients, calls, one_call)
    return calls / (time.perf_counter() - began), latencies


async def run(customers: int, calls: int, clients: int, rates: list[float]) -> None:
    with scratch_database() as url:
        admin = bearer(auth_store.create_key(url, Role.ADMIN, label="bench admin").token)
        service_key = auth_store.create_key(url, Role.SERVICE, label="bench service").token
        metering = await serve("metering", url)
        credits = await serve("credits", url, pool_size=clients)
        invoicing = await serve(
            "invoicing",
            url,
            pool_size=clients,
            env={
                "DRAWDOWN_METERING_ADDRESS": metering.address,
                "DRAWDOWN_CREDITS_ADDRESS": credits.address,
                "DRAWDOWN_SERVICE_API_KEY": service_key,
            },
        )
        channels = [
            grpc.aio.insecure_channel(invoicing.address, options=[OWN_CONNECTION]) for _ in range(clients)
        ]
        credit_channels = [
            grpc.aio.insecure_channel(credits.address, options=[OWN_CONNECTION]) for _ in range(clients)
        ]
        metering_channel = grpc.aio.insecure_channel(metering.address)
        try:
            setup = time.perf_counter()
            meters = meter_service_pb2_grpc.MeterServiceStub(metering_channel)
            meter = await meters.CreateMeter(
                meter_service_pb2.CreateMeterRequest(
                    meter=meter_pb2.Meter(
                        display_name="input tokens",
                        event_name="input_tokens",
                        aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                    )
                ),
                metadata=admin,
            )
            catalog = catalog_service_pb2_grpc.CatalogServiceStub(channels[0])
            product = await catalog.CreateProduct(
                catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="tokens")),
                metadata=admin,
            )
            price = await catalog.CreatePrice(
                catalog_service_pb2.CreatePriceRequest(
                    price=price_pb2.Price(
                        product_id=product.product.id,
                        currency="USD",
                        type=price_pb2.PRICE_TYPE_METERED,
                        recurring=price_pb2.Recurring(
                            interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1
                        ),
                        meter_id=meter.meter.id,
                        unit_amount_decimal={"value": "3"},
                    )
                ),
                metadata=admin,
            )
            price_id = price.price.id
            customer_ids: list[str] = []

            async def onboard(client: int, n: int) -> float:
                created = await customer_service_pb2_grpc.CustomerServiceStub(
                    channels[client]
                ).CreateCustomer(
                    customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name=f"c{n}")),
                    metadata=admin,
                )
                customer_id = created.customer.id
                await grant_grpc.CreditGrantServiceStub(credit_channels[client]).CreateCreditGrant(
                    grant_service_pb.CreateCreditGrantRequest(
                        credit_grant=grant_pb.CreditGrant(
                            customer_id=customer_id,
                            name="prepaid",
                            amount=money_pb2.Money(currency_code="USD", units=1_000_000),
                            applicability_config=grant_pb.ApplicabilityConfig(
                                price_type=grant_pb.PRICE_TYPE_METERED
                            ),
                        )
                    ),
                    metadata=admin,
                )
                await subscription_service_pb2_grpc.SubscriptionServiceStub(
                    channels[client]
                ).CreateSubscription(
                    subscription_service_pb2.CreateSubscriptionRequest(
                        subscription=subscription_pb2.Subscription(
                            customer_id=customer_id,
                            items=[subscription_pb2.SubscriptionItem(price_id=price_id)],
                        )
                    ),
                    metadata=admin,
                )
                customer_ids.append(customer_id)
                return 0.0

            await concurrently(clients, customers, onboard)
            print(
                f"setup: {customers} customers with a grant and a subscription in {time.perf_counter() - setup:.1f} s"
            )

            health = [health_pb2_grpc.HealthStub(c) for c in channels]
            credit_health = [health_pb2_grpc.HealthStub(c) for c in credit_channels]
            authorizations = [authorization_grpc.UsageAuthorizationServiceStub(c) for c in channels]
            live = [customer_service_pb2_grpc.CustomerServiceStub(c) for c in channels]
            balances = [balance_grpc.CreditBalanceServiceStub(c) for c in credit_channels]
            to_capture: list[str] = []
            numbers = itertools.count()

            def timed(call):
                async def one(client: int, n: int) -> float:
                    began = time.perf_counter()
                    await call(client, n)
                    return time.perf_counter() - began

                return one

            async def check(client: int, _: int) -> None:
                await health[client].Check(health_pb2.HealthCheckRequest())

            async def check_credits(client: int, _: int) -> None:
                await credit_health[client].Check(health_pb2.HealthCheckRequest())

            async def authorize(client: int, _: int) -> None:
                reply = await authorizations[client].AuthorizeUsage(
                    authorization_pb.AuthorizeUsageRequest(
                        customer_id=random.choice(customer_ids),
                        price_id=price_id,
                        quantity=decimal_pb2.Decimal(value="100"),
                        request_id=f"r-{next(numbers)}",
                    ),
                    metadata=admin,
                )
                to_capture.append(reply.usage_authorization.id)

            async def capture(client: int, _: int) -> None:
                await authorizations[client].CaptureUsageAuthorization(
                    authorization_pb.CaptureUsageAuthorizationRequest(
                        usage_authorization_id=to_capture.pop(), quantity=decimal_pb2.Decimal(value="60")
                    ),
                    metadata=admin,
                )

            async def live_balance(client: int, _: int) -> None:
                await live[client].GetCustomerLiveBalance(
                    customer_service_pb2.GetCustomerLiveBalanceRequest(
                        customer_id=random.choice(customer_ids)
                    ),
                    metadata=admin,
                )

            async def balance_summary(client: int, _: int) -> None:
                await balances[client].GetCreditBalanceSummary(
                    balance_pb.GetCreditBalanceSummaryRequest(customer_id=random.choice(customer_ids)),
                    metadata=admin,
                )

            # Warm-up, not measured: the pools open their connections on first need.
            await concurrently(clients, clients * 4, timed(live_balance))
            await concurrently(clients, clients * 4, timed(balance_summary))

            floor, _ = await throughput(clients, calls, timed(check))
            print(f"invoicing floor (Health/Check)     {floor:8.0f} calls/s")
            for label, call in (
                ("AuthorizeUsage", authorize),
                ("CaptureUsageAuthorization", capture),
                ("GetCustomerLiveBalance", live_balance),
            ):
                rate, latencies = await throughput(clients, calls, timed(call))
                report(f"{label} closed loop", latencies)
                print(f"{label:<34} {rate:8.0f} calls/s = {rate / floor:5.0%} of the floor")
            credits_floor, _ = await throughput(clients, calls, timed(check_credits))
            rate, latencies = await throughput(clients, calls, timed(balance_summary))
            report("GetCreditBalanceSummary closed loop", latencies)
            print(f"credits floor (Health/Check)       {credits_floor:8.0f} calls/s")
            print(
                f"{'GetCreditBalanceSummary':<34} {rate:8.0f} calls/s = {rate / credits_floor:5.0%} of the floor"
            )

            for rate in rates:
                open_calls = max(int(rate * 5), 200)
                report(
                    f"AuthorizeUsage @{rate:g}/s", await at_rate(clients, open_calls, rate, timed(authorize))
                )
                report(
                    f"CaptureUsageAuthorization @{rate:g}/s",
                    await at_rate(clients, open_calls, rate, timed(capture)),
                )
                report(
                    f"GetCustomerLiveBalance @{rate:g}/s",
                    await at_rate(clients, open_calls, rate, timed(live_balance)),
                )
        finally:
            await metering_channel.close()
            for channel in [*channels, *credit_channels]:
                await channel.close()
            for server in (invoicing, credits, metering):
                await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",") if rate],
        default=[100.0, 200.0, 400.0],
        help="comma-separated calls/s for the open-loop runs",
    )
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.calls, args.clients, args.rates))


if __name__ == "__main__":
    main()
