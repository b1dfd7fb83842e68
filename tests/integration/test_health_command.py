"""`drawdown health`, the containers' health check, run as a process against real servers:
plaintext, TLS (trusting a CA it is given, or the certificate its own settings serve, as
in a container where TLS was turned on) and mTLS."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from grpc_health.v1 import health_pb2

from tests.e2e.test_drawdown_up import free_port
from tests.support import probe_service
from tests.support.certificates import certificate
from tests.support.harness import start_one

ROOT = Path(__file__).resolve().parents[2]


async def _drawdown_health(*args: str, **settings: str) -> tuple[int, str]:
    """Exit code and output of ``drawdown health ARGS`` with the DRAWDOWN_* ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update({f"DRAWDOWN_{name.upper()}": value for name, value in settings.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drawdown.cli",
        "health",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_health_is_0_while_serving_and_1_otherwise(database_url: str) -> None:
    async with start_one(probe_service.DEFINITION, database_url) as server:
        assert await _drawdown_health("--address", server.address) == (0, f"{server.address}: SERVING\n")
        await server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert await _drawdown_health("--address", server.address) == (
            1,
            f"{server.address}: NOT_SERVING\n",
        )
    assert await _drawdown_health("--address", server.address) == (1, f"{server.address}: UNAVAILABLE\n")


async def test_health_of_a_service_probes_its_configured_port(database_url: str) -> None:
    async with start_one(probe_service.DEFINITION, database_url) as server:
        code, output = await _drawdown_health("credits", credits_port=str(server.port))
        assert (code, output) == (0, f"127.0.0.1:{server.port}: SERVING\n")


async def test_health_speaks_tls_when_its_settings_serve_tls(database_url: str, tmp_path: Path) -> None:
    key, cert = certificate(tmp_path, "server")
    async with start_one(
        probe_service.DEFINITION, database_url, tls_cert_file=cert, tls_key_file=key
    ) as server:
        tls_on = {"credits_port": str(server.port), "tls_cert_file": str(cert), "tls_key_file": str(key)}
        assert (await _drawdown_health("credits", **tls_on))[0] == 0
        assert (await _drawdown_health("credits", credits_port=str(server.port)))[0] == 1


async def test_health_trusts_the_ca_it_is_given_and_checks_the_server_name(
    database_url: str, tmp_path: Path
) -> None:
    ca = certificate(tmp_path, "ca")
    key, cert = certificate(tmp_path, "server", ca=ca)
    async with start_one(
        probe_service.DEFINITION, database_url, tls_cert_file=cert, tls_key_file=key
    ) as server:
        address = f"127.0.0.1:{server.port}"
        assert (await _drawdown_health("--address", address, "--tls-ca", str(ca[1])))[0] == 0
        named = ("--tls-ca", str(ca[1]), "--tls-server-name")
        assert (await _drawdown_health("--address", address, *named, "localhost"))[0] == 0
        assert (await _drawdown_health("--address", address, *named, "credits.example.com"))[0] == 1


async def test_health_presents_a_client_certificate_to_an_mtls_server(
    database_url: str, tmp_path: Path
) -> None:
    ca = certificate(tmp_path, "ca")
    key, cert = certificate(tmp_path, "server", ca=ca)
    client_key, client_cert = certificate(tmp_path, "client", ca=ca)
    async with start_one(
        probe_service.DEFINITION, database_url, tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=ca[1]
    ) as server:
        trusting = ("--address", server.address, "--tls-ca", str(ca[1]))
        assert (await _drawdown_health(*trusting))[0] == 1
        client = ("--tls-client-cert", str(client_cert), "--tls-client-key", str(client_key))
        assert (await _drawdown_health(*trusting, *client))[0] == 0


async def test_health_with_no_target_passes_when_one_of_the_three_ports_serves(database_url: str) -> None:
    """The image's own HEALTHCHECK: one container runs one service, on one of the ports."""
    closed = {"metering_port": str(free_port()), "invoicing_port": str(free_port())}
    async with start_one(probe_service.DEFINITION, database_url) as server:
        code, output = await _drawdown_health(credits_port=str(server.port), **closed)
        assert code == 0 and f"127.0.0.1:{server.port}: SERVING\n" in output
    assert (await _drawdown_health(credits_port=str(server.port), **closed))[0] == 1
