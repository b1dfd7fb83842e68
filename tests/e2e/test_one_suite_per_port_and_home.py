"""One suite per port and per home (O-1), through real ``drawdown`` processes: a server
does not start on a port another process serves, ``drawdown up`` does not start in a home
another running suite holds, and each says so in one line. (The processes of one
``drawdown serve`` with DRAWDOWN_PROCESSES still share their port:
test_serve_processes.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown import suite
from drawdown.config import SERVICES
from tests.e2e.test_drawdown_up import ROOT, free_port
from tests.e2e.test_serve_processes import listening_sockets

SERVED = "another process is serving that port"
ANOTHER = "choose another with DRAWDOWN_CREDITS_PORT or --port"


def drawdown_env(database_url: str, home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update(DRAWDOWN_DATABASE_URL=database_url, DRAWDOWN_HOME=str(home))
    env.update({f"DRAWDOWN_{service.upper()}_HTTP_PORT": str(free_port()) for service in SERVICES})
    env.update({f"DRAWDOWN_{name.upper()}": value for name, value in settings.items()})
    return env


def suite_ports() -> dict[str, str]:
    return {f"{service}_port": str(free_port()) for service in SERVICES}


def drawdown(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drawdown.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def running(*args: str, env: dict[str, str], ready: str) -> Iterator[subprocess.Popen[str]]:
    """``drawdown <args>`` until the block ends, from the line on its stdout starting ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert any(line.startswith(ready) for line in process.stdout), (
            f"drawdown {' '.join(args)} did not start"
        )
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_server_does_not_start_on_a_port_another_server_serves(
    database_url: str, tmp_path: Path, processes: str
) -> None:
    port = str(free_port())
    first = drawdown_env(database_url, tmp_path / "first", credits_port=port)
    with running("serve", "credits", env=first, ready="credits listening on"):
        second = drawdown_env(database_url, tmp_path / "second", credits_port=port, processes=processes)
        refused = drawdown("serve", "credits", env=second)
        assert refused.returncode == 1
        assert refused.stderr == f"drawdown: credits cannot listen on 127.0.0.1:{port}: {SERVED}; {ANOTHER}\n"
        assert listening_sockets(int(port)) == 1
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_up_does_not_start_when_a_port_of_the_suite_is_served(database_url: str, tmp_path: Path) -> None:
    ports = suite_ports()
    with socket.create_server(("127.0.0.1", int(ports["credits_port"]))):
        refused = drawdown("up", env=drawdown_env(database_url, tmp_path / "home", **ports))
    assert refused.returncode == 1
    assert (
        refused.stderr
        == f"drawdown: credits cannot listen on 127.0.0.1:{ports['credits_port']}: {SERVED}; {ANOTHER}\n"
    )
    assert listening_sockets(int(ports["metering_port"])) == 0


@pytest.mark.parametrize("command", [("serve", "credits"), ("up",)])
def test_a_served_http_port_is_refused_in_one_line(
    database_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    ports = suite_ports()
    http_port = free_port()
    env = drawdown_env(database_url, tmp_path / "home", **ports, credits_http_port=str(http_port))
    with socket.create_server(("127.0.0.1", http_port)):
        refused = drawdown(*command, env=env)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"drawdown: credits cannot listen on 127.0.0.1:{http_port}: {SERVED};"
        " choose another with DRAWDOWN_CREDITS_HTTP_PORT or --http-port\n"
    )
    assert listening_sockets(int(ports["credits_port"])) == 0


def test_up_does_not_start_in_a_home_another_running_suite_holds(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running(
        "up", env=drawdown_env(database_url, home, **suite_ports()), ready="Stop with Ctrl-C"
    ) as first:
        ports = suite_ports()
        refused = drawdown("up", env=drawdown_env(database_url, home, **ports))
        assert refused.returncode == 1
        assert refused.stderr == (
            f"drawdown: {home.resolve()} is in use by another drawdown up (pid {first.pid});"
            " stop it or set DRAWDOWN_HOME to another folder\n"
        )
        assert all(listening_sockets(int(port)) == 0 for port in ports.values())


def test_a_home_is_free_again_once_the_process_holding_it_is_killed(tmp_path: Path) -> None:
    holds_until_stdin_closes = (
        "import sys; from pathlib import Path; from drawdown.suite import holding_home\n"
        "with holding_home(Path(sys.argv[1])):\n"
        "    print('held', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", holds_until_stdin_closes, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(suite.HomeInUse, match=f"pid {holder.pid}"):
            with suite.holding_home(tmp_path):
                pass
        holder.kill()
    with suite.holding_home(tmp_path):
        assert (tmp_path / "up.lock").read_text() == f"{os.getpid()}\n"
