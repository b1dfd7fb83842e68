"""TLS and mutual TLS on the shared server bootstrap, with certificates made by openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import probe_service
from tests.support.harness import start_one


def _certificate(directory: Path, name: str, *, ca: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """A key and certificate for CN=localhost (self-signed, or signed by ``ca``)."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    if ca is None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                key,
                "-out",
                cert,
                *subject,
            ],
            check=True,
            capture_output=True,
        )
    else:
        request = directory / f"{name}.csr"
        subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                request,
                *subject,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                request,
                "-CA",
                ca[1],
                "-CAkey",
                ca[0],
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                cert,
                "-copy_extensions",
                "copy",
            ],
            check=True,
            capture_output=True,
        )
    return key, cert


async def _health(address: str, credentials: grpc.ChannelCredentials) -> int:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        return reply.status


async def test_tls_server_answers_a_client_that_trusts_its_certificate(
    database_url: str, tmp_path: Path
) -> None:
    key, cert = _certificate(tmp_path, "server")
    async with start_one(
        probe_service.DEFINITION, database_url, tls_cert_file=cert, tls_key_file=key
    ) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        assert (
            await _health(f"localhost:{server.port}", credentials) == health_pb2.HealthCheckResponse.SERVING
        )
        async with grpc.aio.insecure_channel(server.address) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(plaintext).Check(health_pb2.HealthCheckRequest(), timeout=5)


async def test_mtls_server_requires_a_client_certificate_from_its_ca(
    database_url: str, tmp_path: Path
) -> None:
    ca = _certificate(tmp_path, "ca")
    key, cert = _certificate(tmp_path, "server", ca=ca)
    client_key, client_cert = _certificate(tmp_path, "client", ca=ca)
    async with start_one(
        probe_service.DEFINITION, database_url, tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=ca[1]
    ) as server:
        address = f"localhost:{server.port}"
        with_client_cert = grpc.ssl_channel_credentials(
            root_certificates=ca[1].read_bytes(),
            private_key=client_key.read_bytes(),
            certificate_chain=client_cert.read_bytes(),
        )
        assert await _health(address, with_client_cert) == health_pb2.HealthCheckResponse.SERVING
        without = grpc.ssl_channel_credentials(root_certificates=ca[1].read_bytes())
        with pytest.raises(grpc.aio.AioRpcError):
            await _health(address, without)
