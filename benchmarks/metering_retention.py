"""Meter event retention benchmark: dropping a month of weekly partitions against a DELETE of the same rows.

    python benchmarks/metering_retention.py [--events 10000000] [--customers 1000]

On a fresh migrated database (``DRAWDOWN_DATABASE_URL``'s server, else an embedded
PostgreSQL), opens four weekly partitions of ``metering.meter_events`` one after the other
(``EventPartitions.maintain`` at fixed moments of a month in 2040) and a fifth after them,
and loads ``--events`` events received over those four weeks straight in SQL
(``generate_series``: spread over ``--customers`` customers, each event in the partition of
its receipt week). It then times, printing each figure:

1. ``DELETE`` of the month's events (in a transaction rolled back, so the rows stay);
2. ``DROP TABLE`` of the four partitions (rolled back too);
3. ``EventPartitions.prune`` for real, once their retention has passed (committed).

Loading time is printed but is not the measure. It is not a test.

Figures on the 2-core development machine (PostgreSQL 18 embedded, other work sharing the
machine, load average about 6), ``--events 2000000`` (loaded in 55 s; 10,000,000 would
take the loading about 5 minutes here): DELETE 2.51 s, DROP TABLE of the four partitions
0.015 s (168x less).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_database
from drawdown.db.engine import Database
from drawdown.db.urls import libpq_url
from metering_service.store.partitions import RAW_EVENT_RETENTION, EventPartitions

MONTH_START = datetime(2040, 1, 2, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
WEEKS = 4

_LOAD = """
INSERT INTO metering.meter_events
    (meter_id, identifier, customer_id, value, dimension_values, payload, "timestamp", timestamp_sent,
     received_at, received_seq, fingerprint, week)
SELECT 'mtr_bench', 'ev-' || g, 'cus_' || lpad((g %% %(customers)s)::text, 5, '0'), g %% 97 + 1,
       ARRAY['small'], jsonb_build_object('customer_id', 'cus_' || (g %% %(customers)s)), t.at, true,
       t.at, g, '\\x00000000000000000000000000000000'::bytea, date_trunc('week', t.at)::date
FROM generate_series(%(first)s::bigint, %(last)s::bigint) g,
     LATERAL (SELECT %(start)s::timestamptz + (g - %(first)s) * %(step)s::interval AS at) t
"""


def load(url: str, events: int, customers: int) -> float:
    """The month's events, one INSERT per week (so that each fits its partition's range)."""
    started = time.perf_counter()
    per_week = events // WEEKS
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "INSERT INTO metering.meters VALUES ('mtr_bench', 'tokens', 'bench_tokens', 'sum', 'customer_id',"
            " 'value', '{}', NULL, 'active', %(t)s, %(t)s, NULL)",
            {"t": MONTH_START},
        )
        for week in range(WEEKS):
            first = week * per_week + 1
            count = per_week if week < WEEKS - 1 else events - week * per_week
            conn.execute(
                _LOAD,
                {
                    "customers": customers,
                    "first": first,
                    "last": first + count - 1,
                    "start": MONTH_START + week * WEEK,
                    "step": timedelta(seconds=WEEK.total_seconds() * 0.999 / count),
                },
            )
            conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE metering.meter_events")
    return time.perf_counter() - started


def timed_rolled_back(url: str, statements: list[str]) -> float:
    with psycopg.connect(libpq_url(url)) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement)
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


async def run(events: int, customers: int) -> None:
    with scratch_database() as url:
        database = Database(url, pool_size=2)
        partitions = EventPartitions(database)
        try:
            for week in range(WEEKS + 1):  # the month's four weeks, then the one after
                await partitions.maintain(MONTH_START + week * WEEK)
            print(f"loaded {events:,} events in {load(url, events, customers):.1f} s", flush=True)
            names = [f"meter_events_{(MONTH_START + week * WEEK):%Y%m%d}" for week in range(WEEKS)]
            end = (MONTH_START + WEEKS * WEEK).date()
            delete = timed_rolled_back(url, [f"DELETE FROM metering.meter_events WHERE week < '{end}'"])
            print(f"DELETE of the month's events:       {delete:8.2f} s", flush=True)
            drop = timed_rolled_back(url, [f"DROP TABLE metering.{name}" for name in names])
            print(f"DROP TABLE of the four partitions:  {drop:8.3f} s", flush=True)
            started = time.perf_counter()
            dropped = await partitions.prune(MONTH_START + WEEKS * WEEK + RAW_EVENT_RETENTION + WEEK)
            prune = time.perf_counter() - started
            print(f"prune (committed):                  {prune:8.3f} s  ({dropped} partitions)", flush=True)
            print(f"DELETE / DROP: {delete / drop:,.0f}x   DELETE / prune: {delete / prune:.1f}x")
        finally:
            await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.customers))


if __name__ == "__main__":
    main()
