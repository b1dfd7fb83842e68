"""With DRAWDOWN_LOG_FORMAT=json, every line a serving process writes is JSON (O-4): the
line saying where it listens, structlog's lines, the standard library's (migrations,
gRPC, psycopg, warnings), on stdout and stderr alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.logs import listening_address
from tests.e2e.test_drawdown_up import ROOT, free_port

LISTS = {
    "metering": "/drawdown.metering.v1.MeterService/ListMeters",
    "invoicing": "/drawdown.invoicing.v1.CustomerService/ListCustomers",
}


def serve_json(service: str, database_url: str, home: Path, **env: str) -> subprocess.Popen[str]:
    """``drawdown serve <service>`` with JSON logs at DEBUG (the most lines there are)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DRAWDOWN_", "OTEL_"))}
    environment.update(
        DRAWDOWN_DATABASE_URL=database_url,
        DRAWDOWN_HOME=str(home),
        DRAWDOWN_LOG_FORMAT="json",
        DRAWDOWN_LOG_LEVEL="DEBUG",
        DRAWDOWN_SHUTDOWN_GRACE_SECONDS="1",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", "serve", service],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def objects(text: str, stream: str) -> list[dict]:
    """Every line of ``text`` as a JSON object (a line that is not one fails the test)."""
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a line on {stream} is not JSON: {line!r}")
        assert isinstance(record, dict) and "event" in record, f"not a log object on {stream}: {line!r}"
        found.append(record)
    return found


@pytest.mark.parametrize("service", ["metering", "invoicing"])
def test_every_line_of_a_serving_process_is_json_o4(service: str, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    # Invoicing's peers are absent: its calls to them fail, and it says so, in JSON too.
    process = serve_json(
        service,
        database_url,
        tmp_path,
        **{
            f"DRAWDOWN_{service.upper()}_PORT": str(port),
            "DRAWDOWN_METERING_ADDRESS": f"127.0.0.1:{free_port()}",
            "DRAWDOWN_CREDITS_ADDRESS": f"127.0.0.1:{free_port()}",
        },
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert listening_address(first) == f"127.0.0.1:{port}", first
        key = auth_store.create_key(database_url, Role.ADMIN, label="json logs").token
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            listing = channel.unary_unary(LISTS[service])  # an empty request: the defaults
            listing(b"", metadata=[("authorization", f"Bearer {key}")], timeout=30)
            with pytest.raises(grpc.RpcError):  # a refusal is logged too
                listing(b"", metadata=[("authorization", "Bearer nope")], timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    out = objects(first + stdout, "stdout")
    err = objects(stderr, "stderr")
    assert out[0]["event"] == "listening" and out[0]["service"] == service
    events = [record["event"] for record in err]
    assert "server.started" in events and "server.stopped" in events
    assert "rpc" in events  # the access lines
    assert any("logger" in record for record in err), "no standard-library line was logged"
