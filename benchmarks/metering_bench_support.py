"""Shared pieces of the metering benchmarks: PostgreSQL's CPU time, and percentiles."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drawdown.db.urls import libpq_url


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
