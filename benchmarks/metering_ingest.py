"""Metering ingest benchmark: stream and batch throughput against the COPY ceiling, single-event latency.

    python benchmarks/metering_ingest.py [--events 1000000] [--batch-size 5000] [--batch-callers 4]
                                         [--single-events 20000] [--single-connections 1] [--processes 1]

Starts PostgreSQL (``DRAWDOWN_DATABASE_URL``'s server, else an embedded one under a
temporary folder), a fresh migrated database and the metering server (``drawdown serve
metering``, ``--processes`` of them) on 127.0.0.1. It then measures, printing each figure:

1. the stream path: ``--events`` events over two StreamMeterEvents streams (each with at
   most two unanswered batches), events/s;
2. the batch path: ``--events`` events by BatchCreateMeterEvents from ``--batch-callers``
   concurrent callers (4 by default: as many batches in flight as the stream path has);
   for both, the load generator's CPU (share of a core), and the CPU per event of the server
   and of PostgreSQL (when it runs on this machine), which stay comparable when other work
   shares the machine;
3. the COPY ceiling: the same rows COPYed (text format, formatted on the fly) straight into
   ``metering.meter_events`` (same table, same indexes; no validation, rollups or gRPC),
   best of one stream and two parallel streams; both paths are printed as a ratio of it
   (target ≥ 50 %);
4. single events: ``--single-events`` CreateMeterEvent calls from 32 concurrent callers
   over ``--single-connections`` connections (group commit), events/s (target ≥ 2,000)
   and p50 / p99 latency (target p99 ≤ 50 ms), with the same CPU figures;
5. the server's RSS, sampled every half second over the run (min / max): it stays bounded.

Events carry 1,000 customers, a `model` dimension and timestamps spread over the last hour.
The load generator runs in this process and shares the machine's cores with the server
and PostgreSQL, so figures are pessimistic on a small machine: it serializes the stream and
batch requests before timing them and prints the CPU it used while timed. It is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import grpc
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.metering_bench_support import percentiles, postgres_cpu_seconds, postmaster_pid
from benchmarks.scratch import scratch_database
from benchmarks.service_process import OWN_CONNECTION, ServiceProcess, serve
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.db.urls import libpq_url
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from tests.support.harness import bearer

CUSTOMERS = 1_000
MODELS = ("small", "large", "xl")
_COPY_ROWS = (
    "COPY metering.meter_events (meter_id, identifier, customer_id, value, dimension_values, payload,"
    ' "timestamp", timestamp_sent, received_at, fingerprint, week) FROM STDIN'
)
# The weekly partition ingest writes into (metering_service.store.partitions).
_OPEN_WEEK = "SELECT max(week) FROM metering.meter_event_weeks WHERE opened_at IS NOT NULL"
CHANNEL_OPTIONS = [("grpc.max_send_message_length", 32 * 1024 * 1024)]
_SERVICE = "drawdown.metering.v1.MeterEventService"


def _payload(number: int) -> dict[str, str]:
    return {
        "customer_id": f"cus_{number % CUSTOMERS:05d}",
        "value": str(number % 97 + 1),
        "model": MODELS[number % 3],
    }


def _events(
    event_name: str, prefix: str, start: int, count: int, now: datetime
) -> list[meter_event_pb2.MeterEvent]:
    events = []
    for number in range(start, start + count):
        message = meter_event_pb2.MeterEvent(
            event_name=event_name, identifier=f"{prefix}-{number}", payload=_payload(number)
        )
        message.timestamp.FromDatetime(now - timedelta(seconds=number % 3600))
        events.append(message)
    return events


class RssSampler:
    def __init__(self, server: ServiceProcess) -> None:
        self.server = server
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            self.samples.append(self.server.rss_mib())
            await asyncio.sleep(0.5)


def _requests(event_name: str, prefix: str, count: int, batch: int, request) -> list[bytes]:
    """Serialized requests of ``count`` events in batches, built before the clock starts: the load
    generator shares the cores with the server and PostgreSQL, so it does no protobuf work while timed."""
    now = datetime.now(UTC)
    return [
        request(
            sequence, _events(event_name, prefix, start, min(batch, count - start), now)
        ).SerializeToString()
        for sequence, start in enumerate(range(0, count, batch))
    ]


def _raw(channel: grpc.aio.Channel, method: str, response: type, *, streaming: bool):
    """A call that sends already serialized request bytes as they are."""
    make = channel.stream_stream if streaming else channel.unary_unary
    return make(f"/{_SERVICE}/{method}", request_serializer=None, response_deserializer=response.FromString)


class Timed(NamedTuple):
    rate: float  # events per second
    client_cpu: float  # share of one core the load generator used meanwhile
    server_us: float  # CPU time of the metering server per event, in µs: comparable on a busy machine
    database_us: float | None  # CPU time of PostgreSQL (all its processes) per event, in µs, if local

    def cpu(self) -> str:
        database = "" if self.database_us is None else f", PostgreSQL CPU {self.database_us:.1f} µs/event"
        return (
            f"client CPU {self.client_cpu:.0%} of a core, server CPU {self.server_us:.1f} µs/event{database}"
        )


async def _timed(work, events: int, server: ServiceProcess, postmaster: int | None) -> Timed:
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), server.cpu_seconds()
    database = postgres_cpu_seconds(postmaster)
    await work
    elapsed = time.perf_counter() - started
    database_after = postgres_cpu_seconds(postmaster)
    return Timed(
        events / elapsed,
        (time.process_time() - cpu) / elapsed,
        (server.cpu_seconds() - server_cpu) / events * 1e6,
        None if database is None or database_after is None else (database_after - database) / events * 1e6,
    )


async def stream_path(
    channel: grpc.aio.Channel,
    metadata,
    events: int,
    batch: int,
    server: ServiceProcess,
    postmaster: int | None,
) -> Timed:
    stream = _raw(channel, "StreamMeterEvents", event_pb.StreamMeterEventsResponse, streaming=True)
    halves = [
        _requests(
            "bench_stream",
            f"s{index}",
            count,
            batch,
            lambda sequence, events: event_pb.StreamMeterEventsRequest(sequence=sequence, events=events),
        )
        for index, count in enumerate((events // 2, events - events // 2))
    ]

    async def one_stream(requests: list[bytes]) -> None:
        call = stream(metadata=metadata)
        unanswered = 0
        for request in requests:
            await call.write(request)
            unanswered += 1
            if unanswered == 2:
                reply = await call.read()
                assert reply.rejected_count == 0, reply.results[:3]
                unanswered -= 1
        await call.done_writing()
        for _ in range(unanswered):
            await call.read()

    return await _timed(
        asyncio.gather(*(one_stream(requests) for requests in halves)), events, server, postmaster
    )


async def batch_path(
    channel: grpc.aio.Channel,
    metadata,
    events: int,
    batch: int,
    callers: int,
    server: ServiceProcess,
    postmaster: int | None,
) -> Timed:
    create = _raw(channel, "BatchCreateMeterEvents", event_pb.BatchCreateMeterEventsResponse, streaming=False)
    shares = [
        _requests(
            "bench_batch",
            f"b{index}",
            events // callers + (index < events % callers),
            batch,
            lambda _, events: event_pb.BatchCreateMeterEventsRequest(events=events),
        )
        for index in range(callers)
    ]

    async def caller(requests: list[bytes]) -> None:
        for request in requests:
            reply = await create(request, metadata=metadata)
            assert reply.rejected_count == reply.duplicate_count == 0, reply.results[:3]

    return await _timed(
        asyncio.gather(*(caller(requests) for requests in shares)), events, server, postmaster
    )


async def copy_ceiling(url: str, meter_id: str, events: int) -> tuple[float, float]:
    """Rows per second of a raw COPY into meter_events: one stream, then two in parallel."""
    now = datetime.now(UTC)
    received = now.isoformat()
    fingerprint = "\\\\x" + "00" * 16

    async def copy(prefix: str, start: int, count: int) -> None:
        async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
            ((week,),) = await (await conn.execute(_OPEN_WEEK)).fetchall()
            async with conn.cursor() as cursor, cursor.copy(_COPY_ROWS) as copy_in:
                for chunk in range(start, start + count, 10_000):
                    lines = []
                    for number in range(chunk, min(start + count, chunk + 10_000)):
                        payload = _payload(number)
                        moment = (now - timedelta(seconds=number % 3600)).isoformat()
                        lines.append(
                            f"{meter_id}\t{prefix}-{number}\t{payload['customer_id']}\t{payload['value']}\t"
                            f"{{{payload['model']}}}\t{json.dumps(payload)}\t{moment}\tt\t{received}\t{fingerprint}\t{week}\n"
                        )
                    await copy_in.write("".join(lines))
            await conn.commit()

    started = time.perf_counter()
    await copy("c1", 0, events)
    single = events / (time.perf_counter() - started)
    started = time.perf_counter()
    await asyncio.gather(copy("c2a", 0, events // 2), copy("c2b", events // 2, events - events // 2))
    return single, events / (time.perf_counter() - started)


async def single_events(
    stubs: list[event_grpc.MeterEventServiceStub],
    metadata,
    count: int,
    callers: int,
    server: ServiceProcess,
    postmaster: int | None,
) -> tuple[Timed, float, float]:
    latencies: list[float] = []
    now = datetime.now(UTC)

    async def caller(index: int) -> None:
        for number in range(index, count, callers):
            (message,) = _events("bench_single", "one", number, 1, now)
            started = time.perf_counter()
            await stubs[index % len(stubs)].CreateMeterEvent(
                event_pb.CreateMeterEventRequest(meter_event=message), metadata=metadata
            )
            latencies.append((time.perf_counter() - started) * 1000)

    timed = await _timed(
        asyncio.gather(*(caller(index) for index in range(callers))), count, server, postmaster
    )
    p50, p99 = percentiles(latencies)
    return timed, p50, p99


async def run(args: argparse.Namespace) -> None:
    with scratch_database() as url:
        server = await serve("metering", url, processes=args.processes)
        try:
            await measure(url, server, args)
        finally:
            await server.stop()


async def measure(url: str, server: ServiceProcess, args: argparse.Namespace) -> None:
    events, batch, single = args.events, args.batch_size, args.single_events
    metadata = bearer(auth_store.create_key(url, Role.ADMIN, label="bench").token)
    postmaster = postmaster_pid(url)
    sampler = RssSampler(server)
    sampling = asyncio.create_task(sampler.run())
    async with grpc.aio.insecure_channel(server.address, options=CHANNEL_OPTIONS) as channel:
        meters = meter_grpc.MeterServiceStub(channel)
        ids = {}
        for name in ("bench_stream", "bench_batch", "bench_single", "bench_copy"):
            reply = await meters.CreateMeter(
                meter_pb.CreateMeterRequest(
                    meter=meter_pb2.Meter(
                        display_name=name,
                        event_name=name,
                        aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                        dimension_keys=["model"],
                    )
                ),
                metadata=metadata,
            )
            ids[name] = reply.meter.id
        print(f"server RSS at start: {server.rss_mib():.0f} MiB")
        stream = await stream_path(channel, metadata, events, batch, server, postmaster)
        stream_rate = stream.rate
        print(
            f"stream path:   {stream_rate:>9,.0f} events/s  ({events:,} events, 2 streams, batches of {batch:,};"
            f" {stream.cpu()})"
        )
        batched = await batch_path(channel, metadata, events, batch, args.batch_callers, server, postmaster)
        batch_rate = batched.rate
        print(
            f"batch path:    {batch_rate:>9,.0f} events/s  ({events:,} events, {args.batch_callers} callers; {batched.cpu()})"
        )
        database = postgres_cpu_seconds(postmaster)
        one, two = await copy_ceiling(url, ids["bench_copy"], events)
        database_after = postgres_cpu_seconds(postmaster)
        ceiling = max(one, two)
        copy_cpu = (
            ""
            if database is None or database_after is None
            else f"; PostgreSQL CPU {(database_after - database) / (2 * events) * 1e6:.1f} µs/row"
        )
        print(
            f"COPY ceiling:  {ceiling:>9,.0f} rows/s    (1 stream {one:,.0f}, 2 streams {two:,.0f}{copy_cpu})"
        )
        print(
            f"stream / COPY: {stream_rate / ceiling:>9.0%}     batch / COPY: {batch_rate / ceiling:.0%}   (target ≥ 50 %)"
        )
        single_channels = [
            grpc.aio.insecure_channel(server.address, options=[OWN_CONNECTION])
            for _ in range(args.single_connections)
        ]
        stubs = [event_grpc.MeterEventServiceStub(c) for c in single_channels]
        singles, p50, p99 = await single_events(stubs, metadata, single, 32, server, postmaster)
        for single_channel in single_channels:
            await single_channel.close()
        print(
            f"single events: {singles.rate:>9,.0f} events/s  p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
            f"({single:,} calls, 32 callers; target ≥ 2,000/s, p99 ≤ 50 ms; {singles.cpu()})"
        )
    sampling.cancel()
    print(f"server RSS over the run: min {min(sampler.samples):.0f} MiB, max {max(sampler.samples):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per path (stream, batch, COPY)")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument(
        "--batch-callers",
        type=int,
        default=4,
        help="concurrent BatchCreateMeterEvents callers (4: as many batches in flight as the 2 streams)",
    )
    parser.add_argument("--single-events", type=int, default=20_000)
    parser.add_argument(
        "--single-connections", type=int, default=1, help="connections the 32 single-event callers share"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="metering server processes (DRAWDOWN_PROCESSES)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
