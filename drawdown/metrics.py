"""Prometheus metrics of every service, served on an HTTP port when configured (O-4).

Each is counted where the thing it counts happens, in the service layer (or the database
module for the pools), once the transaction that did it has committed. Gauges say how
processes run with DRAWDOWN_PROCESSES add up (``multiprocess_mode``): the connections in
use of all the processes are summed.
"""

from __future__ import annotations

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

RPC_REQUESTS = Counter(
    "drawdown_rpc_requests_total",
    "gRPC calls handled, by method and status code.",
    ["service", "method", "code"],
)
RPC_LATENCY = Histogram(
    "drawdown_rpc_duration_seconds",
    "gRPC call latency, by method.",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Metering (M-12..M-15).
METER_EVENTS = Counter(
    "drawdown_meter_events_total",
    "Meter events ingested, by outcome: accepted (stored), duplicate (a replay of a stored "
    "event) or rejected, with the rejection's reason (TIMESTAMP_TOO_FAR_IN_PAST, ...).",
    ["outcome", "reason"],
)
METER_EVENT_BATCH_SIZE = Histogram(
    "drawdown_meter_event_batch_size",
    "Events per ingestion transaction, by path: batch (a BatchCreateMeterEvents call), "
    "stream (a StreamMeterEvents batch) or single (CreateMeterEvent calls committed together).",
    ["path"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)

# Invoicing (I-10, I-11).
SCHEDULER_LAG = Histogram(
    "drawdown_scheduler_lag_seconds",
    "How late the billing scheduler runs a due action on the wall clock: from a period's "
    "end to its close (close_period), from a draft's auto-finalize time to its "
    "finalization (finalize).",
    ["action"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
INVOICES_FINALIZED = Counter(
    "drawdown_invoices_finalized_total",
    "Invoices finalized, by the status they reached: open (an amount is due) or paid.",
    ["status"],
)

# Credits (C-13, C-14).
CREDITS_APPLIED = Counter(
    "drawdown_credits_applied_minor_units_total",
    "Credits drawn down by finalized invoices, in minor units of their currency (cents for USD).",
    ["currency"],
)

# Database pools (drawdown.db.engine): the engine's, for units of work, and the raw
# connections of the hot paths.
DB_POOL_IN_USE = Gauge(
    "drawdown_db_pool_connections_in_use",
    "Database connections checked out of a pool (engine: units of work; raw: hot paths).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "drawdown_db_pool_wait_seconds",
    "How long taking a connection from a pool took: waiting for a free one, opening or pinging it.",
    ["pool"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30),
)


def serve_metrics(port: int, host: str = "127.0.0.1", *, multiprocess_dir: str | None = None) -> None:
    """Expose /metrics on ``port`` (0: do nothing): this process's metrics, or with
    ``multiprocess_dir`` those its server processes write there (prometheus_client's
    multiprocess mode), added up."""
    if not port:
        return
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    start_http_server(port, addr=host, registry=registry)
