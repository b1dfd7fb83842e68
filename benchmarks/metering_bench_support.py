"""Shared pieces of the metering benchmarks: a scratch database, a metering server in its own
process (so the load generator does not share its event loop), its RSS, CPU times, and percentiles."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drawdown import suite
from drawdown.db.urls import libpq_url


def _serve(url: str, ports: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    import asyncio

    from drawdown.logs import configure_logging
    from drawdown.rpc.server import start_server, tune_gc_for_serving
    from tests.support.harness import test_settings

    configure_logging("WARNING")

    async def main() -> None:
        server = await start_server(suite.definition("metering"), test_settings(), url, port=0)
        tune_gc_for_serving()  # as `drawdown serve` does
        ports.put(server.port)
        await asyncio.to_thread(stop.wait)
        await server.stop(grace=5)

    asyncio.run(main())


@contextmanager
def metering_process(url: str) -> Iterator[tuple[str, int]]:
    """A metering server in a child process; yields its address and pid."""
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve, args=(url, ports, stop), daemon=True)
    process.start()
    try:
        yield f"127.0.0.1:{ports.get(timeout=120)}", process.pid  # type: ignore[misc]
    finally:
        stop.set()
        process.join(30)


def rss_mib(pid: int) -> float:
    """Resident set size of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used, in seconds (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(url: str) -> int | None:
    """The pid of the PostgreSQL server behind ``url`` if it runs on this machine (else None)."""
    with psycopg.connect(libpq_url(url)) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rpartition(")")[2].split()[1])
    except OSError:
        return None


def postgres_cpu_seconds(postmaster: int | None) -> float | None:
    """CPU time of a local PostgreSQL server: the postmaster, its live children (backends,
    WAL writer, autovacuum, ...) and the children it has reaped, in seconds (Linux)."""
    if postmaster is None:
        return None
    fields = Path(f"/proc/{postmaster}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(field) for field in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(child[1]) == postmaster:
            ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    """p50 and p99 of latencies in milliseconds."""
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
