"""Invoicing benchmark: finalize latency, and closing + finalizing 10,000 customers' periods.

    python benchmarks/invoicing_finalize.py [--customers 10000] [--finalize-calls 500] [--processes 1]

Starts PostgreSQL (``DRAWDOWN_DATABASE_URL``'s server, else an embedded one under a
temporary folder), a fresh migrated database, the real metering and credits services in
their own processes (``drawdown serve``, ``--processes`` each) and an invoicing server in
this process on a frozen wall clock, all on 127.0.0.1. It then

1. creates the customers (72 h grace period), a monthly metered subscription each, a credit
   grant each and one usage event each;
2. moves the clock past the period end and times the scheduler closing every period
   (a draft per customer, with usage read from metering and credits held);
3. times ``FinalizeInvoice`` one call at a time on ``--finalize-calls`` drafts (usage
   re-read, credits applied, invoice stored) and prints p50 / p99;
4. moves the clock past the grace period and times the scheduler finalizing the rest.

Targets: finalize p99 ≤ 50 ms; close + finalize of 10,000 customers < 60 s. Setup time is
not measured. Prints its figures; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
from google.protobuf import duration_pb2
from google.type import money_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_database
from benchmarks.service_process import serve
from drawdown import suite
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.clock import FrozenClock
from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2, credit_grant_service_pb2_grpc
from drawdown.db.urls import libpq_url
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    price_pb2,
    product_pb2,
    subscription_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
)
from drawdown.logs import configure_logging
from drawdown.metering.v1 import (
    meter_event_pb2,
    meter_event_service_pb2,
    meter_event_service_pb2_grpc,
    meter_pb2,
    meter_service_pb2,
    meter_service_pb2_grpc,
)
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.rpc.server import start_server
from invoicing_service.domain.periods import Interval, anchor_at, period_containing
from tests.support.harness import bearer, test_settings

EVENT = "bench_tokens"


async def gather_limited(coroutines, limit: int = 32) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))


async def count_invoices(url: str, statuses: tuple[str, ...]) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM invoicing.invoices WHERE status = ANY(%s)", [list(statuses)]
        )
        return (await cursor.fetchone())[0]


async def wait_for(url: str, statuses: tuple[str, ...], count: int, started: float) -> float:
    while await count_invoices(url, statuses) < count:
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def run(customers: int, finalize_calls: int, processes: int) -> None:
    configure_logging("WARNING")
    with scratch_database() as url:
        start = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
        clock = FrozenClock(start)
        service_key = auth_store.create_key(url, Role.SERVICE, label="bench").token
        metadata = bearer(auth_store.create_key(url, Role.ADMIN, label="bench").token)
        peers = [await serve(name, url, processes=processes) for name in ("metering", "credits")]
        invoicing = None
        try:
            metering_address, credits_address = peers[0].address, peers[1].address
            invoicing = await start_server(
                suite.definition("invoicing"),
                test_settings(
                    service_api_key=service_key,
                    metering_address=metering_address,
                    credits_address=credits_address,
                    db_pool_size=20,
                ),
                url,
                port=0,
                clock=clock,
            )
            await measure(
                url,
                clock,
                start,
                customers,
                finalize_calls,
                metadata,
                invoicing,
                metering_address,
                credits_address,
            )
        finally:
            if invoicing is not None:
                await invoicing.stop(grace=1)
            for peer in peers:
                await peer.stop()


async def measure(
    url,
    clock,
    start,
    customers,
    finalize_calls,
    metadata,
    invoicing,
    metering_address,
    credits_address,
) -> None:
    channel = grpc.aio.insecure_channel(invoicing.address)
    metering = grpc.aio.insecure_channel(metering_address)
    credits = grpc.aio.insecure_channel(credits_address)
    catalog = catalog_service_pb2_grpc.CatalogServiceStub(channel)
    customer_stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(channel)
    invoices = invoice_service_pb2_grpc.InvoiceServiceStub(channel)

    setup_started = time.perf_counter()
    meter = await meter_service_pb2_grpc.MeterServiceStub(metering).CreateMeter(
        meter_service_pb2.CreateMeterRequest(
            meter=meter_pb2.Meter(
                display_name=EVENT,
                event_name=EVENT,
                aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
            )
        ),
        metadata=metadata,
    )
    meter_id = meter.meter.id
    product = await catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="tokens")),
        metadata=metadata,
    )
    price = await catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(
            price=price_pb2.Price(
                product_id=product.product.id,
                currency="USD",
                type=price_pb2.PRICE_TYPE_METERED,
                recurring=price_pb2.Recurring(interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1),
                meter_id=meter_id,
                unit_amount_decimal={"value": "3"},
            )
        ),
        metadata=metadata,
    )

    async def onboard(index: int) -> str:
        created = await customer_stub.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    name=f"customer {index}",
                    invoice_settings=customer_pb2.CustomerInvoiceSettings(
                        grace_period=duration_pb2.Duration(seconds=72 * 3600)
                    ),
                )
            ),
            metadata=metadata,
        )
        customer_id = created.customer.id
        await subscriptions.CreateSubscription(
            subscription_service_pb2.CreateSubscriptionRequest(
                subscription=subscription_pb2.Subscription(
                    customer_id=customer_id,
                    items=[subscription_pb2.SubscriptionItem(price_id=price.price.id)],
                )
            ),
            metadata=metadata,
        )
        await credit_grant_service_pb2_grpc.CreditGrantServiceStub(credits).CreateCreditGrant(
            credit_grant_service_pb2.CreateCreditGrantRequest(
                credit_grant=credit_grant_pb2.CreditGrant(
                    customer_id=customer_id,
                    amount=money_pb2.Money(currency_code="USD", units=1),
                    name="bench",
                    applicability_config=credit_grant_pb2.ApplicabilityConfig(
                        price_type=credit_grant_pb2.PRICE_TYPE_METERED
                    ),
                    effective_time=timestamp_to_proto(start),
                )
            ),
            metadata=metadata,
        )
        return customer_id

    customer_ids = await gather_limited(onboard(i) for i in range(customers))
    usage_at = start + timedelta(hours=1)
    events = meter_event_service_pb2_grpc.MeterEventServiceStub(metering)
    for offset in range(0, customers, 5000):
        await events.BatchCreateMeterEvents(
            meter_event_service_pb2.BatchCreateMeterEventsRequest(
                events=[
                    meter_event_pb2.MeterEvent(
                        event_name=EVENT,
                        payload={"customer_id": c, "value": "100"},
                        timestamp=timestamp_to_proto(usage_at),
                    )
                    for c in customer_ids[offset : offset + 5000]
                ]
            ),
            metadata=metadata,
        )
    print(f"setup: {customers} customers in {time.perf_counter() - setup_started:.1f} s")

    period_end = period_containing(anchor_at(start), Interval.MONTH, 1, start).end
    close_started = time.perf_counter()
    clock.set(period_end + timedelta(minutes=1))
    close_seconds = await wait_for(url, ("draft",), customers, close_started)
    print(f"period close: {customers} drafts in {close_seconds:.1f} s ({customers / close_seconds:.0f}/s)")

    drafts = await invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(status=1, page_size=100), metadata=metadata
    )
    ids = [i.id for i in drafts.invoices]
    page_token = drafts.next_page_token
    while len(ids) < finalize_calls and page_token:
        drafts = await invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(status=1, page_size=100, page_token=page_token),
            metadata=metadata,
        )
        ids += [i.id for i in drafts.invoices]
        page_token = drafts.next_page_token
    latencies = []
    for invoice_id in ids[:finalize_calls]:
        began = time.perf_counter()
        await invoices.FinalizeInvoice(
            invoice_service_pb2.FinalizeInvoiceRequest(id=invoice_id), metadata=metadata
        )
        latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"FinalizeInvoice ({len(latencies)} calls, sequential): p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 ≤ 50 ms)"
    )

    finalize_started = time.perf_counter()
    clock.set(period_end + timedelta(hours=73))
    finalize_seconds = await wait_for(url, ("open", "paid"), customers, finalize_started)
    rest = customers - len(latencies)
    print(
        f"scheduled finalization: {rest} drafts in {finalize_seconds:.1f} s ({rest / finalize_seconds:.0f}/s)"
    )
    print(
        f"close + finalize of {customers} customers: {close_seconds + finalize_seconds:.1f} s (target < 60 s)"
    )
    for c in (channel, metering, credits):
        await c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--finalize-calls", type=int, default=500)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes of metering and of credits (DRAWDOWN_PROCESSES)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.finalize_calls, args.processes))


if __name__ == "__main__":
    main()
