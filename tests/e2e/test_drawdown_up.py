"""`drawdown up` as a user runs it: a real process, three service processes, PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from drawdown.auth import store as auth_store
from drawdown.config import SERVICES
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports_from(count: int) -> int:
    """A port p with p .. p+count-1 all free (`drawdown up` gives service i metrics port p+i)."""
    while True:
        base = free_port()
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


@pytest.mark.parametrize("database", ["configured", "embedded"])
def test_up_serves_three_services_and_stops_cleanly_on_sigterm(
    database: str, database_url: str, tmp_path: Path
) -> None:
    ports = {service: free_port() for service in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update({f"DRAWDOWN_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    http_ports = {service: free_port() for service in SERVICES}
    env.update({f"DRAWDOWN_{s.upper()}_HTTP_PORT": str(p) for s, p in http_ports.items()})
    env["DRAWDOWN_HOME"] = str(tmp_path / "home")
    metrics_port = free_ports_from(len(SERVICES))
    env["DRAWDOWN_METRICS_PORT"] = str(metrics_port)
    if database == "configured":
        env["DRAWDOWN_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Stop with Ctrl-C"):
                break
        assert banner and banner[0].strip() == "Drawdown is up.", "".join(banner)
        dev_key = (tmp_path / "home" / "dev-api-key").read_text().strip()
        assert dev_key in "".join(banner)
        for service in SERVICES:  # each service's two addresses
            line = f"  {service:<10} 127.0.0.1:{ports[service]}   HTTP/JSON http://127.0.0.1:{http_ports[service]}\n"
            assert line in banner, "".join(banner)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{http_ports[service]}/openapi.json", timeout=10
            ) as reply:
                paths = json.load(reply)["paths"]
            assert any(path.startswith(f"/drawdown.{service}.v1.") for path in paths), paths

        for service, port in ports.items():
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
                )
                names = {s.name for reply in listing for s in reply.list_services_response.service}
                assert any(name.startswith(f"drawdown.{service}.v1.") for name in names), names

        with grpc.insecure_channel(f"127.0.0.1:{ports['metering']}") as channel:
            stub = meter_service_pb2_grpc.MeterServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.ListMeters(meter_service_pb2.ListMetersRequest(), timeout=10)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        )
        assert (
            'drawdown_rpc_requests_total{code="UNAUTHENTICATED",'
            'method="/drawdown.metering.v1.MeterService/ListMeters",service="metering"} 1.0'
        ) in metrics
        if database == "configured":
            assert auth_store.key_is_valid(database_url, dev_key)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for port in [*ports.values(), *http_ports.values()]:
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0, (
                    "a service is still listening after shutdown"
                )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
