"""Metering summaries benchmark: ListMeterEventSummaries latency over 30 days at 1M and 10M stored events.

    python benchmarks/metering_summaries.py [--events 1000000,10000000] [--customers 1000] [--queries 300]

For each ``--events`` size, on a fresh migrated database (``DRAWDOWN_DATABASE_URL``'s server,
else an embedded PostgreSQL): creates a sum meter with a `model` dimension through a
metering server running in a child process, COPYs the events straight into
``metering.meter_events`` (spread over ``--customers`` customers, three models and the last
30 days), then builds the rollups with the service's own SQL
(``EventRepository.recompute_buckets``). It then times, one call at a time on random
customers, ``--queries`` summaries of each kind and prints p50 / p99:

- 30 days, one row, minute-aligned (so the two partial edge hours are read from raw events);
- 30 days grouped by UTC day (30 rows).

Target: p99 ≤ 10 ms. Loading time is printed but is not the measure. It is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.metering_bench_support import percentiles
from benchmarks.scratch import scratch_database
from benchmarks.service_process import serve
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.db.engine import Database
from drawdown.db.urls import libpq_url
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.rpc.convert import timestamp_to_proto
from metering_service.store.unit import MeteringUnit
from tests.support.harness import bearer

MODELS = ("small", "large", "xl")
DAYS = 30
CHUNK_ROWS = 50_000


def _customer(number: int) -> str:
    return f"cus_{number:05d}"


def load_events(url: str, meter_id: str, events: int, customers: int, now: datetime) -> None:
    """COPY ``events`` rows in text format, spread evenly over customers and the last 30 days."""
    span = DAYS * 86_400
    fingerprint = "\\\\x" + "00" * 16
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        # Into the weekly partition ingest writes into (metering_service.store.partitions).
        ((week,),) = cursor.execute(
            "SELECT max(week) FROM metering.meter_event_weeks WHERE opened_at IS NOT NULL"
        ).fetchall()
        with cursor.copy(
            "COPY metering.meter_events (meter_id, identifier, customer_id, value, dimension_values, payload,"
            ' "timestamp", timestamp_sent, received_at, fingerprint, week) FROM STDIN'
        ) as copy:
            buffer = io.StringIO()
            for number in range(events):
                customer = _customer(number % customers)
                model = MODELS[number % 3]
                value = number % 97 + 1
                moment = (now - timedelta(seconds=(number * 7919) % span)).isoformat()
                buffer.write(
                    f"{meter_id}\tev-{number}\t{customer}\t{value}\t{{{model}}}\t"
                    f'{{"customer_id": "{customer}", "value": "{value}", "model": "{model}"}}\t'
                    f"{moment}\tt\t{now.isoformat()}\t{fingerprint}\t{week}\n"
                )
                if number % CHUNK_ROWS == CHUNK_ROWS - 1:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.commit()


async def build_rollups(url: str, meter_id: str, customers: int, now: datetime) -> None:
    """The rollups of every customer over the 30 days, by the SQL the service recomputes buckets with."""
    database = Database(url, pool_size=2, unit_of_work=MeteringUnit)
    start = (now - timedelta(days=DAYS + 1)).replace(minute=0, second=0, microsecond=0)
    end = now + timedelta(hours=1)
    try:
        for first in range(0, customers, 50):
            async with database.unit_of_work() as uow:
                ranges = [
                    (meter_id, _customer(c), start, end) for c in range(first, min(customers, first + 50))
                ]
                await uow.events.recompute_buckets(ranges)
                await uow.commit()
    finally:
        await database.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE metering.meter_events")
        conn.execute("VACUUM ANALYZE metering.meter_rollups")


async def time_queries(
    stub: event_grpc.MeterEventServiceStub,
    metadata,
    meter_id: str,
    customers: int,
    queries: int,
    now: datetime,
    grouped: bool,
) -> tuple[float, float]:
    random.seed(7)
    latencies = []
    if grouped:
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        window = meter_event_pb2.VALUE_GROUPING_WINDOW_DAY
    else:
        end = now.replace(second=0, microsecond=0) - timedelta(minutes=17)
        window = meter_event_pb2.VALUE_GROUPING_WINDOW_UNSPECIFIED
    start = end - timedelta(days=DAYS)
    for _ in range(queries):
        request = event_pb.ListMeterEventSummariesRequest(
            meter_id=meter_id,
            customer_id=_customer(random.randrange(customers)),
            start_time=timestamp_to_proto(start),
            end_time=timestamp_to_proto(end),
            value_grouping_window=window,
            page_size=100,
        )
        started = time.perf_counter()
        reply = await stub.ListMeterEventSummaries(request, metadata=metadata)
        latencies.append((time.perf_counter() - started) * 1000)
        assert len(reply.meter_event_summaries) == (DAYS if grouped else 1)
    return percentiles(latencies)


async def run_size(events: int, customers: int, queries: int) -> None:
    now = datetime.now(UTC)
    with scratch_database() as url:
        metadata = bearer(auth_store.create_key(url, Role.ADMIN, label="bench").token)
        server = await serve("metering", url)
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                meter = (
                    await meter_grpc.MeterServiceStub(channel).CreateMeter(
                        meter_pb.CreateMeterRequest(
                            meter=meter_pb2.Meter(
                                display_name="tokens",
                                event_name="bench_tokens",
                                aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                                dimension_keys=["model"],
                            )
                        ),
                        metadata=metadata,
                    )
                ).meter
                started = time.perf_counter()
                await asyncio.to_thread(load_events, url, meter.id, events, customers, now)
                loaded = time.perf_counter()
                await build_rollups(url, meter.id, customers, now)
                print(
                    f"{events:,} events: COPY {loaded - started:.0f} s, rollups {time.perf_counter() - loaded:.0f} s"
                )
                stub = event_grpc.MeterEventServiceStub(channel)
                for grouped in (False, True):
                    await time_queries(stub, metadata, meter.id, customers, 20, now, grouped)  # warm-up
                    p50, p99 = await time_queries(stub, metadata, meter.id, customers, queries, now, grouped)
                    kind = "30 days by day " if grouped else "30 days, 1 row "
                    print(
                        f"  {kind}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  ({queries} queries; target p99 ≤ 10 ms)"
                    )
        finally:
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", default="1000000,10000000", help="comma-separated sizes of the stored events"
    )
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    for size in (int(text) for text in args.events.split(",")):
        asyncio.run(run_size(size, args.customers, args.queries))


if __name__ == "__main__":
    main()
