"""`drawdown serve <service>` with DRAWDOWN_PROCESSES=2: two server processes on one port
(SO_REUSEPORT), their metrics added up on one /metrics port, all stopped by one SIGTERM
(or SIGHUP, when the terminal closes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from tests.e2e.test_drawdown_up import ROOT, free_port

CALLS = 40


def listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on ``port`` (SO_REUSEPORT lets several processes listen);
    gRPC listens on IPv6 sockets with a v4-mapped address, so both tables count."""
    rows = [
        row.split()
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for row in Path(table).read_text().splitlines()[1:]
    ]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_two_processes_share_the_port_and_stop_on_one_signal(
    database_url: str, tmp_path: Path, stop: signal.Signals
) -> None:
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update(
        DRAWDOWN_DATABASE_URL=database_url,
        DRAWDOWN_CREDITS_PORT=str(port),
        DRAWDOWN_CREDITS_HTTP_PORT=str(http_port),
        DRAWDOWN_METRICS_PORT=str(metrics_port),
        DRAWDOWN_PROCESSES="2",
        DRAWDOWN_HOME=str(tmp_path),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", "serve", "credits"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = [next(process.stdout) for _ in range(2)]
        assert (
            started
            == [f"credits listening on 127.0.0.1:{port} (gRPC) and 127.0.0.1:{http_port} (HTTP/JSON)\n"] * 2
        )
        assert listening_sockets(port) == 2
        assert listening_sockets(http_port) == 2

        key = auth_store.create_key(database_url, Role.READ, label="processes").token
        for _ in range(CALLS):  # a new connection each time: the kernel picks the process
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                balance_grpc.CreditBalanceServiceStub(channel).GetCreditBalanceSummary(
                    balance_pb.GetCreditBalanceSummaryRequest(customer_id="cus_processes"),
                    metadata=[("authorization", f"Bearer {key}")],
                    timeout=10,
                )
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        )
        served = [
            line
            for line in metrics.splitlines()
            if line.startswith("drawdown_rpc_requests_total{") and "GetCreditBalanceSummary" in line
        ]
        assert served and served[0].endswith(f" {float(CALLS)}")
        # O-4: the processes' pool metrics add up too; a gauge as the sum of the live ones.
        assert 'drawdown_db_pool_connections_in_use{pool="raw"} 0.0' in metrics.splitlines()
        (waits,) = [
            line
            for line in metrics.splitlines()
            if line.startswith('drawdown_db_pool_wait_seconds_count{pool="raw"}')
        ]
        assert float(waits.rsplit(" ", 1)[1]) >= CALLS
    finally:
        process.send_signal(stop)
        assert process.wait(30) == 0
    assert listening_sockets(port) == 0
