"""Credits benchmark: balance-summary and apply latency under 16 concurrent clients.

    python benchmarks/credits_latency.py [--customers 1000] [--grants 10] [--calls 2000] [--clients 16]
                                         [--batch 500] [--batches 10] [--processes 1]
                                         [--rates 250,500,1000]

Starts PostgreSQL (``DRAWDOWN_DATABASE_URL``'s server, else an embedded one under a
temporary folder), a fresh migrated database and the credits server on 127.0.0.1 in its
own processes (``drawdown serve credits`` with ``--processes`` of them sharing the port,
so clients and server do not share a Python interpreter). It
creates ``--customers`` customers with ``--grants`` grants each through the API (not
measured), then, with ``--clients`` concurrent clients each on its own connection:

1. times ``--calls`` GetCreditBalanceSummary calls on random customers;
2. times ``--calls`` draws on random customers: HoldInvoiceCredits then
   ApplyInvoiceCredits for a new invoice (the pair, and apply alone);
3. with ``--rates``, the same two measurements again in open loop: calls start at a
   fixed rate (calls/s) whatever the answers' speed, on the same ``--clients``
   connections, and each latency counts from the call's turn, so time spent waiting
   for a free client is included. Closed loop (1, 2) measures latency at
   saturation; open loop measures it at a given load, as an SLO is stated;
4. with ``--batch N`` (0 skips it), times ``--batches`` period-close runs, one client
   after the other: BatchHoldInvoiceCredits then BatchApplyInvoiceCredits of N invoices
   of distinct customers.

Prints p50 / p99 per measurement, and the server processes' and this load generator's
CPU time per call (from /proc, so Linux only). Targets: balance p99 ≤ 5 ms, apply p99 ≤ 25 ms. It is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.type import money_pb2

from benchmarks.scratch import scratch_database
from benchmarks.service_process import OWN_CONNECTION, serve
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc as invoice_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.support.harness import bearer

PERIOD_END = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def invoice_for_credits(invoice_id: str, customer_id: str, *, units: int) -> invoice_pb.InvoiceForCredits:
    """A finalizing invoice of one metered line of ``units`` USD."""
    return invoice_pb.InvoiceForCredits(
        invoice_id=invoice_id,
        customer_id=customer_id,
        currency="USD",
        period_end=timestamp_to_proto(PERIOD_END),
        lines=[
            invoice_pb.InvoiceLineForCredits(
                line_id="il_1",
                price_id="price_in",
                amount=money_pb2.Money(currency_code="USD", units=units),
                metered=True,
            )
        ],
    )


async def concurrently(
    clients: int, calls: int, one_call: Callable[[int, int], Awaitable[float]]
) -> list[float]:
    """Run ``calls`` calls spread over ``clients`` workers; each returns its latency."""
    latencies: list[float] = []
    counter = iter(range(calls))

    async def worker(client: int) -> None:
        for n in counter:
            latencies.append(await one_call(client, n))

    await asyncio.gather(*(worker(c) for c in range(clients)))
    return latencies


async def at_rate(
    clients: int, calls: int, rate: float, one_call: Callable[[int, int], Awaitable[float]]
) -> list[float]:
    """Start ``calls`` calls ``1 / rate`` seconds apart on the first free of ``clients``
    clients; each latency runs from the call's turn (its scheduled start, or later if
    this load generator's timer woke late) to its answer, so the wait for a free client
    counts and the generator's own lateness does not."""
    free: asyncio.Queue[int] = asyncio.Queue()
    for client in range(clients):
        free.put_nowait(client)
    latencies: list[float] = []
    started = time.perf_counter()

    async def timed(client: int, n: int, turn: float) -> None:
        await one_call(client, n)
        latencies.append(time.perf_counter() - turn)
        free.put_nowait(client)

    tasks = []
    for n in range(calls):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        turn = time.perf_counter()
        client = await free.get()
        tasks.append(asyncio.create_task(timed(client, n, turn)))
    await asyncio.gather(*tasks)
    return latencies


def report(
    label: str,
    latencies: list[float],
    cpu_seconds: float | None = None,
    client_cpu_seconds: float | None = None,
) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    cpu = "" if cpu_seconds is None else f"  server CPU/call={cpu_seconds / len(ordered) * 1000:6.2f} ms"
    if client_cpu_seconds is not None:
        cpu += f"  client CPU/call={client_cpu_seconds / len(ordered) * 1000:5.2f} ms"
    print(
        f"{label:<34} n={len(ordered):>5}  p50={statistics.median(ordered) * 1000:6.2f} ms  "
        f"p99={p99 * 1000:6.2f} ms{cpu}"
    )


async def run(
    customers: int,
    grants: int,
    calls: int,
    clients: int,
    batch: int,
    batches: int,
    processes: int,
    rates: list[float],
) -> None:
    with scratch_database() as url:
        admin = bearer(auth_store.create_key(url, Role.ADMIN, label="bench admin").token)
        service = bearer(auth_store.create_key(url, Role.SERVICE, label="bench service").token)
        server = await serve("credits", url, processes=processes, pool_size=clients)
        channels = [
            grpc.aio.insecure_channel(server.address, options=[OWN_CONNECTION]) for _ in range(clients)
        ]
        try:
            grant_stubs = [grant_grpc.CreditGrantServiceStub(c) for c in channels]
            balance_stubs = [balance_grpc.CreditBalanceServiceStub(c) for c in channels]
            invoice_stubs = [invoice_grpc.InvoiceCreditServiceStub(c) for c in channels]
            customer_ids = [f"cus_bench_{n:05d}" for n in range(customers)]

            async def create(client: int, n: int) -> float:
                grant = grant_pb.CreditGrant(
                    customer_id=customer_ids[n // grants],
                    amount=money_pb2.Money(currency_code="USD", units=1_000),
                    priority=n % grants,
                    applicability_config=grant_pb.ApplicabilityConfig(price_type=grant_pb.PRICE_TYPE_METERED),
                    effective_time=timestamp_to_proto(PERIOD_END - timedelta(days=30)),
                )
                await grant_stubs[client].CreateCreditGrant(
                    grant_service_pb.CreateCreditGrantRequest(credit_grant=grant), metadata=admin
                )
                return 0.0

            started = time.perf_counter()
            await concurrently(clients, customers * grants, create)
            print(f"setup: {customers} customers x {grants} grants in {time.perf_counter() - started:.1f} s")

            async def balance(client: int, n: int) -> float:
                request = balance_pb.GetCreditBalanceSummaryRequest(customer_id=random.choice(customer_ids))
                began = time.perf_counter()
                await balance_stubs[client].GetCreditBalanceSummary(request, metadata=admin)
                return time.perf_counter() - began

            apply_only: list[float] = []

            invoice_numbers = itertools.count()

            async def draw(client: int, _: int) -> float:
                n = next(invoice_numbers)
                invoice = invoice_for_credits(f"in_bench_{n}", random.choice(customer_ids), units=3)
                began = time.perf_counter()
                await invoice_stubs[client].HoldInvoiceCredits(
                    invoice_service_pb.HoldInvoiceCreditsRequest(request_id=f"hold-{n}", invoice=invoice),
                    metadata=service,
                )
                applying = time.perf_counter()
                await invoice_stubs[client].ApplyInvoiceCredits(
                    invoice_service_pb.ApplyInvoiceCreditsRequest(
                        request_id=invoice.invoice_id, invoice=invoice
                    ),
                    metadata=service,
                )
                ended = time.perf_counter()
                apply_only.append(ended - applying)
                return ended - began

            # Not measured: every client's first calls (the server's pools open their
            # connections on first need).
            await concurrently(clients, clients * 4, balance)
            cpu, client_cpu = server.cpu_seconds(), time.process_time()
            balances = await concurrently(clients, calls, balance)
            report(
                "GetCreditBalanceSummary",
                balances,
                server.cpu_seconds() - cpu,
                time.process_time() - client_cpu,
            )
            cpu, client_cpu = server.cpu_seconds(), time.process_time()
            pairs = await concurrently(clients, calls, draw)
            report(
                "HoldInvoiceCredits + Apply",
                pairs,
                server.cpu_seconds() - cpu,
                time.process_time() - client_cpu,
            )
            report("ApplyInvoiceCredits alone", apply_only)
            for rate in rates:
                report(f"GetCreditBalanceSummary @{rate:g}/s", await at_rate(clients, calls, rate, balance))
                apply_only.clear()
                pairs = await at_rate(clients, calls, rate, draw)
                report(f"Hold + Apply @{rate:g}/s", pairs)
                report(f"ApplyInvoiceCredits alone @{rate:g}/s", apply_only)

            async def period_close(run: int) -> tuple[float, float]:
                chosen = random.sample(customer_ids, min(batch, len(customer_ids)))
                invoices = [
                    invoice_for_credits(f"in_batch_{run}_{n}", customer_id, units=2)
                    for n, customer_id in enumerate(chosen)
                ]
                began = time.perf_counter()
                await invoice_stubs[0].BatchHoldInvoiceCredits(
                    invoice_service_pb.BatchHoldInvoiceCreditsRequest(
                        requests=[
                            invoice_service_pb.HoldInvoiceCreditsRequest(
                                request_id=f"hold-{i.invoice_id}", invoice=i
                            )
                            for i in invoices
                        ]
                    ),
                    metadata=service,
                )
                applying = time.perf_counter()
                await invoice_stubs[0].BatchApplyInvoiceCredits(
                    invoice_service_pb.BatchApplyInvoiceCreditsRequest(
                        requests=[
                            invoice_service_pb.ApplyInvoiceCreditsRequest(request_id=i.invoice_id, invoice=i)
                            for i in invoices
                        ]
                    ),
                    metadata=service,
                )
                return applying - began, time.perf_counter() - applying

            if batch:
                cpu = server.cpu_seconds()
                runs = [await period_close(run) for run in range(batches)]
                spent = server.cpu_seconds() - cpu
                report(f"BatchHold of {batch}", [hold for hold, _ in runs])
                report(f"BatchApply of {batch}", [apply for _, apply in runs], spent)
        finally:
            for channel in channels:
                await channel.close()
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--grants", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=500, help="invoices per batch call (0: no batch phase)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument(
        "--processes", type=int, default=1, help="credits server processes (DRAWDOWN_PROCESSES)"
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",") if rate],
        default=[],
        help="comma-separated calls/s for the open-loop runs (default: none)",
    )
    arguments = parser.parse_args()
    asyncio.run(
        run(
            arguments.customers,
            arguments.grants,
            arguments.calls,
            arguments.clients,
            arguments.batch,
            arguments.batches,
            arguments.processes,
            arguments.rates,
        )
    )


if __name__ == "__main__":
    main()
