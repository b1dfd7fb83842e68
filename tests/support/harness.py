"""Start real Drawdown servers in the test's event loop, on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
from opentelemetry import trace

from drawdown import suite
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.clock import Clock
from drawdown.config import SERVICES, Settings
from drawdown.rpc.server import RunningServer, ServiceDefinition, start_server


def test_settings(**overrides: object) -> Settings:
    """Settings for in-process servers: loopback, migrations already applied, short grace."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "migrate_on_start": False,
        "shutdown_grace_seconds": 2.0,
        # Each server's HTTP/JSON gateway on a free port too (O-5).
        "metering_http_port": 0,
        "credits_http_port": 0,
        "invoicing_http_port": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Suite:
    database_url: str
    servers: dict[str, RunningServer]
    admin_key: str
    clock: Clock | None = None
    faults: dict[str, grpc.aio.ServerInterceptor] = field(default_factory=dict)
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    tracer_providers: dict[str, trace.TracerProvider] = field(default_factory=dict)

    async def stop(self, service: str) -> None:
        """Stop one service (its port stays known, so ``restart`` brings it back there)."""
        await self.servers[service].stop(grace=1)

    async def restart(self, service: str) -> None:
        """Start a stopped service again on the same port with the same settings."""
        old = self.servers[service]
        extra = [self.faults[service]] if service in self.faults else []
        self.servers[service] = await start_server(
            old.definition,
            old.context.settings,
            self.database_url,
            port=old.port,
            clock=self.clock,
            extra_interceptors=extra,
            tracer_provider=self.tracer_providers.get(service),
        )

    def address(self, service: str) -> str:
        return self.servers[service].address

    def channel(self, service: str) -> grpc.aio.Channel:
        """An insecure channel to ``service`` (closed with the suite)."""
        if service not in self.channels:
            self.channels[service] = grpc.aio.insecure_channel(self.address(service))
        return self.channels[service]

    def key(self, role: Role) -> str:
        """A new API key of ``role``."""
        return auth_store.create_key(self.database_url, role, label=f"test {role}").token


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)


@asynccontextmanager
async def start_suite(
    database_url: str,
    clock: Clock | None = None,
    faults: dict[str, grpc.aio.ServerInterceptor] | None = None,
    tracer_providers: dict[str, trace.TracerProvider] | None = None,
) -> AsyncIterator[Suite]:
    """Metering and credits first, then invoicing pointed at them; stopped in reverse.

    ``faults`` maps a service name to an interceptor placed in front of it (see
    ``tests.support.faults``); ``tracer_providers`` a service name to the provider its
    spans go to.
    """
    service_key = auth_store.create_key(database_url, Role.SERVICE, label="test service").token
    servers: dict[str, RunningServer] = {}
    started: Suite | None = None
    try:
        for service in SERVICES:
            settings = test_settings(
                service_api_key=service_key,
                metering_address=servers["metering"].address if "metering" in servers else "127.0.0.1:50051",
                credits_address=servers["credits"].address if "credits" in servers else "127.0.0.1:50052",
            )
            extra = [faults[service]] if faults and service in faults else []
            servers[service] = await start_server(
                suite.definition(service),
                settings,
                database_url,
                port=0,
                clock=clock,
                extra_interceptors=extra,
                tracer_provider=(tracer_providers or {}).get(service),
            )
        admin_key = auth_store.create_key(database_url, Role.ADMIN, label="test admin").token
        started = Suite(
            database_url,
            servers,
            admin_key,
            clock=clock,
            faults=faults or {},
            tracer_providers=tracer_providers or {},
        )
        yield started
    finally:
        if started is not None:
            for channel in started.channels.values():
                await channel.close()
        for server in reversed(list(servers.values())):
            await server.stop(grace=1)


@asynccontextmanager
async def start_one(
    definition: ServiceDefinition, database_url: str, **settings: object
) -> AsyncIterator[RunningServer]:
    running = await start_server(definition, test_settings(**settings), database_url, port=0)
    try:
        yield running
    finally:
        await running.stop(grace=1)
