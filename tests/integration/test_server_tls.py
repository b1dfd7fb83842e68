"""TLS and mutual TLS on the shared server bootstrap, with certificates made by openssl."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import probe_service
from tests.support.certificates import certificate
from tests.support.harness import start_one


async def _health(address: str, credentials: grpc.ChannelCredentials) -> int:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        return reply.status


async def test_tls_server_answers_a_client_that_trusts_its_certificate(
    database_url: str, tmp_path: Path
) -> None:
    key, cert = certificate(tmp_path, "server")
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
    ca = certificate(tmp_path, "ca")
    key, cert = certificate(tmp_path, "server", ca=ca)
    client_key, client_cert = certificate(tmp_path, "client", ca=ca)
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
