"""Memory of a metering server under large requests it refuses (X-7).

Starts ``drawdown serve metering`` on a scratch database, then ``--clients`` clients each
send BatchCreateMeterEvents requests of about 30 MB (10,000 events with a 3,000-character
payload value) for ``--seconds``, with no API key (refused UNAUTHENTICATED) and then
with a read key (refused PERMISSION_DENIED). Prints the server's resident memory at rest,
its peak while the clients send, and a few seconds after they stop: refused requests
must not stay resident.

    python benchmarks/refused_requests.py --clients 16 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_database
from benchmarks.service_process import OWN_CONNECTION, ServiceProcess, serve
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.metering.v1 import meter_event_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb

METHOD = "/drawdown.metering.v1.MeterEventService/BatchCreateMeterEvents"
SETTLE_SECONDS = 8  # longer than the server's period for returning freed memory


def large_request() -> bytes:
    event = meter_event_pb2.MeterEvent(
        event_name="tokens", payload={"customer_id": "cus_1", "value": "1", "pad": "x" * 3000}
    )
    return event_pb.BatchCreateMeterEventsRequest(events=[event] * 10_000).SerializeToString()


async def send_for(
    server: ServiceProcess, data: bytes, metadata: tuple, clients: int, seconds: float
) -> tuple[dict[str, int], float]:
    """Refusals by code, and the server's peak RSS in MiB while ``clients`` send."""
    stop = time.monotonic() + seconds
    codes: dict[str, int] = {}

    async def client() -> None:
        options = [("grpc.max_send_message_length", 64 << 20), OWN_CONNECTION]
        async with grpc.aio.insecure_channel(server.address, options=options) as channel:
            call = channel.unary_unary(METHOD, request_serializer=bytes, response_deserializer=bytes)
            while time.monotonic() < stop:
                try:
                    await call(data, metadata=metadata, timeout=60)
                    code = "OK"
                except grpc.aio.AioRpcError as error:
                    code = error.code().name
                codes[code] = codes.get(code, 0) + 1

    async def sample() -> float:
        peak = 0.0
        while time.monotonic() < stop:
            peak = max(peak, server.rss_mib())
            await asyncio.sleep(0.25)
        return peak

    peak, *_ = await asyncio.gather(sample(), *(client() for _ in range(clients)))
    return codes, peak


async def run(clients: int, seconds: float) -> None:
    data = large_request()
    with scratch_database() as url:
        read_key = auth_store.create_key(url, Role.READ, label="bench read").token
        server = await serve("metering", url)
        try:
            print(f"request: {len(data) / 1e6:.1f} MB, {clients} clients, {seconds:.0f} s per phase")
            print(f"server RSS at rest: {server.rss_mib():.0f} MiB")
            for label, metadata in (
                ("no key", ()),
                ("read key", (("authorization", f"Bearer {read_key}"),)),
            ):
                codes, peak = await send_for(server, data, metadata, clients, seconds)
                await asyncio.sleep(SETTLE_SECONDS)
                print(
                    f"{label}: {sum(codes.values())} requests {codes}; peak RSS {peak:.0f} MiB, "
                    f"{SETTLE_SECONDS} s after {server.rss_mib():.0f} MiB"
                )
        finally:
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.seconds))


if __name__ == "__main__":
    main()
