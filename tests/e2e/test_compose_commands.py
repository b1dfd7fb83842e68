"""docker-compose.yml's own commands and environments, run as processes on this machine
(no Docker): the bootstrap step on an empty database, the three services reading what it
wrote, their health checks, and the Hypernian demo through them.

Only what a container gives differently is replaced: the database URL, the loopback
interface, free ports for the fixed ones, and a temporary directory for the keys volume."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown import cli
from drawdown.config import SERVICES
from tests.e2e.test_drawdown_up import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
KEYS_DIR = str(cli.build_parser().parse_args(COMPOSE["bootstrap"]["command"]).keys_dir)


class ComposeOnThisMachine:
    def __init__(self, database_url: str, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        ports = {service: str(free_port()) for service in SERVICES}
        self._replacements = {
            "DRAWDOWN_DATABASE_URL": database_url,
            "DRAWDOWN_HOST": "127.0.0.1",
            **{f"DRAWDOWN_{service.upper()}_PORT": port for service, port in ports.items()},
            **{f"DRAWDOWN_{service.upper()}_HTTP_PORT": str(free_port()) for service in SERVICES},
            **{f"DRAWDOWN_{service.upper()}_ADDRESS": f"127.0.0.1:{ports[service]}" for service in SERVICES},
        }
        self.ports = {service: int(port) for service, port in ports.items()}

    def environment(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
        env.update(
            {name: self._in_keys_dir(value) for name, value in COMPOSE[service]["environment"].items()}
        )
        env.update(self._replacements, DRAWDOWN_METRICS_PORT=str(free_port()))
        return env

    def argv(self, command: list[str]) -> list[str]:
        """The container's ``drawdown ...`` (the image's entrypoint) as this Python's CLI."""
        arguments = command[1:] if command[0] == "drawdown" else command
        return [sys.executable, "-m", "drawdown.cli", *(self._in_keys_dir(a) for a in arguments)]

    def _in_keys_dir(self, value: str) -> str:
        return str(self.keys_dir) + value.removeprefix(KEYS_DIR) if value.startswith(KEYS_DIR) else value

    def run(self, service: str, command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command),
            cwd=ROOT,
            env=self.environment(service),
            capture_output=True,
            text=True,
            timeout=120,
        )


def _wait_until_serving(address: str) -> None:
    """Follow the server's health (Watch) until it reports SERVING."""
    with grpc.insecure_channel(address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=60, wait_for_ready=True
        )
        for reply in watch:
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                watch.cancel()
                return


@pytest.fixture
def compose(empty_database_url: str, tmp_path: Path) -> ComposeOnThisMachine:
    return ComposeOnThisMachine(empty_database_url, tmp_path / "keys")


@pytest.fixture
def bootstrapped(compose: ComposeOnThisMachine) -> ComposeOnThisMachine:
    result = compose.run("bootstrap", COMPOSE["bootstrap"]["command"])
    assert result.returncode == 0, result.stderr
    return compose


def test_bootstrap_migrates_and_keeps_the_keys_for_the_next_start(compose: ComposeOnThisMachine) -> None:
    first = compose.run("bootstrap", COMPOSE["bootstrap"]["command"])
    assert first.returncode == 0, first.stderr
    admin_file = compose.keys_dir / cli.ADMIN_KEY_FILE
    admin_token = admin_file.read_text().strip()
    assert first.stdout.splitlines()[-1] == admin_token  # shown once, when created
    for name in (cli.SERVICE_KEY_FILE, cli.ADMIN_KEY_FILE):
        assert stat.S_IMODE((compose.keys_dir / name).stat().st_mode) == 0o600
    service_token = (compose.keys_dir / cli.SERVICE_KEY_FILE).read_text()

    again = compose.run("bootstrap", COMPOSE["bootstrap"]["command"])
    assert again.returncode == 0, again.stderr
    assert admin_token not in again.stdout and "kept" in again.stdout
    assert admin_file.read_text().strip() == admin_token
    assert (compose.keys_dir / cli.SERVICE_KEY_FILE).read_text() == service_token


def test_the_services_start_on_what_bootstrap_wrote_and_pass_their_health_checks(
    bootstrapped: ComposeOnThisMachine,
) -> None:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service in SERVICES:  # compose's order: invoicing waits for the other two
            processes[service] = subprocess.Popen(
                bootstrapped.argv(COMPOSE[service]["command"]),
                cwd=ROOT,
                env=bootstrapped.environment(service),
                stdout=subprocess.DEVNULL,
            )
            _wait_until_serving(f"127.0.0.1:{bootstrapped.ports[service]}")
        for service in SERVICES:
            check = bootstrapped.run(service, COMPOSE[service]["healthcheck"]["test"][1:])
            assert check.returncode == 0, check.stderr
            assert check.stdout == f"127.0.0.1:{bootstrapped.ports[service]}: SERVING\n"

        # The demo's preview and invoice go through invoicing's calls to metering and
        # credits, made with the service key it read from the keys volume.
        admin_key = (bootstrapped.keys_dir / cli.ADMIN_KEY_FILE).read_text().strip()
        demo = bootstrapped.run("invoicing", ["demo", "--json", "--api-key", admin_key])
        assert demo.returncode == 0, demo.stderr
        assert json.loads(demo.stdout)["invoice_amount_due"] == "80.00 USD"
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(30)
