"""Prometheus metrics shared by every service, served on an HTTP port when configured."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

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
