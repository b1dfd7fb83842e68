"""Server bootstrap shared by the three services.

``start_server`` checks that its port is free (O-1), applies migrations, opens the
database, registers the service's servicers and the ApiKeyService (O-3) behind the
interceptor, adds grpc.health.v1 (following the database, O-2) and server reflection (v1
and v1alpha),
binds (TLS/mTLS when configured) and starts. ``RunningServer.stop`` is the graceful shutdown:
health turns NOT_SERVING, the server stops taking new calls and gives in-flight ones the
grace period to finish, then background tasks end and the pool closes. ``run`` does all
of that for a process, on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import trace

from drawdown import pagination, tracing
from drawdown.auth import store as auth_store
from drawdown.auth.servicer import add_api_key_service
from drawdown.clock import Clock, SystemClock
from drawdown.config import SERVICES, Settings
from drawdown.db.engine import Database, UnitOfWork
from drawdown.db.migrations import MigrationSet, upgrade
from drawdown.logs import listening_line
from drawdown.rpc.database_health import DatabaseProbe, follow_database
from drawdown.rpc.gateway import (
    ConnectGateway,
    HttpServer,
    http_ssl_context,
    listening_socket,
    loopback_address,
    start_http,
)
from drawdown.rpc.interceptors import Authenticator, ServerInterceptor
from drawdown.rpc.limits import MAX_MESSAGE_BYTES
from drawdown.rpc.ports import why_not_free
from drawdown.rpc.reflection import enable_reflection

log = structlog.get_logger("drawdown.server")


# HTTP/2 streams one connection may have open at once. A client that knows the
# limit waits for a stream to end rather than piling calls onto the server; streams a
# client opens before it has read the server's settings are refused past it (RST_STREAM
# REFUSED_STREAM), so the limit sits well above a busy client's burst (the tests send 300
# concurrent single events on one connection).
MAX_STREAMS_PER_CONNECTION = 1000
# Of a process's DRAWDOWN_DB_POOL_SIZE connections, those outside the pools: the health
# probe's (O-2) and the events' LISTEN (E-3); the pools share the rest.
OWN_CONNECTIONS = 2

SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


class CannotListen(Exception):
    """A server's port is served by another process, or its address is not this machine's (O-1)."""


def refuse_served_port(service: str, host: str, port: int, *, http: bool = False) -> None:
    """Raise CannotListen when ``host:port`` (not 0) cannot be listened on unshared (O-1)."""
    if port and (reason := why_not_free(host, port)):
        raise CannotListen(
            f"{service} cannot listen on {host}:{port}: {reason}; {_another_port(service, http=http)}"
        )


def _another_port(service: str, *, http: bool = False) -> str:
    if http:
        return f"choose another with DRAWDOWN_{service.upper()}_HTTP_PORT or --http-port"
    return f"choose another with DRAWDOWN_{service.upper()}_PORT or --port"


@dataclass
class ServiceContext:
    """What a service's servicers and background tasks are built from."""

    settings: Settings
    database: Database
    clock: Clock
    # Spans of the server's calls and of the calls they make (O-4): no-op unless configured.
    tracer_provider: trace.TracerProvider = field(default_factory=trace.NoOpTracerProvider)
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceDefinition:
    """A service: its name, its schema's migrations, and how it registers its servicers.

    ``register`` adds the servicers to the server (and may start background tasks in
    ``context.background``) and returns the full names of the gRPC services it added.
    ``unit_of_work`` is the kind of unit of work its database hands out (its repositories).
    """

    name: str
    migrations: Sequence[MigrationSet]
    register: Callable[[grpc.aio.Server, ServiceContext], Sequence[str]]
    unit_of_work: type[UnitOfWork] = UnitOfWork


@dataclass
class RunningServer:
    definition: ServiceDefinition
    server: grpc.aio.Server
    port: int
    context: ServiceContext
    health: health.aio.HealthServicer
    http: HttpServer | None = None
    _stopped: bool = False

    @property
    def address(self) -> str:
        return f"{self.context.settings.host}:{self.port}"

    @property
    def http_address(self) -> str | None:
        """``host:port`` of the HTTP/JSON port (O-5), None when HTTP is not served."""
        return None if self.http is None else f"{self.context.settings.host}:{self.http.port}"

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, drain in-flight calls, stop background work."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.context.settings.shutdown_grace_seconds if grace is None else grace
        log.info("server.stopping", service=self.definition.name, grace_seconds=grace)
        self.context.shutting_down.set()
        await self.health.enter_graceful_shutdown()
        # Both ports stop taking calls at once; each gives its in-flight ones the grace period.
        await asyncio.gather(self.server.stop(grace), *([self.http.stop()] if self.http else []))
        for task in self.context.background:
            task.cancel()
        await asyncio.gather(*self.context.background, return_exceptions=True)
        for hook in self.context.on_stop:
            await hook()
        await self.context.database.dispose()
        log.info("server.stopped", service=self.definition.name)

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def migrate(database_url: str, definition: ServiceDefinition) -> None:
    """Apply the auth schema's and the service's migrations (idempotent)."""
    for migration_set in (auth_store.MIGRATIONS, *definition.migrations):
        upgrade(database_url, migration_set)


async def start_server(
    definition: ServiceDefinition,
    settings: Settings,
    database_url: str,
    *,
    port: int | None = None,
    clock: Clock | None = None,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    share_port: bool = False,
    http_port: int | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> RunningServer:
    """Start ``definition`` on ``settings.host``:``port`` (0 picks a free port), and its
    HTTP/JSON gateway on ``http_port`` (default: the settings'; none when HTTP is disabled).

    The port must be free unless ``share_port``: only the processes of one ``drawdown
    serve`` with DRAWDOWN_PROCESSES share theirs (SO_REUSEPORT), once their parent has
    checked it is free. ``extra_interceptors`` run before the standard one (tests use it
    to inject faults). Spans go to ``tracer_provider`` when given (it stays the caller's
    to shut down), else to the one the settings configure (O-4), shut down with the server.
    """
    bind_port = settings.port_of(definition.name) if port is None else port  # type: ignore[arg-type]
    address = f"{settings.host}:{bind_port}"
    serve_http = settings.http_enabled
    if http_port is None:  # a service of the suite has its setting; any other a free port
        http_port = settings.http_port_of(definition.name) if definition.name in SERVICES else 0  # type: ignore[arg-type]
    if not share_port:
        refuse_served_port(definition.name, settings.host, bind_port)
        if serve_http:
            refuse_served_port(definition.name, settings.host, http_port, http=True)
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, database_url, definition)
    database = Database(
        database_url,
        pool_size=settings.db_pool_size - OWN_CONNECTIONS,
        unit_of_work=definition.unit_of_work,
        application_name=f"drawdown {definition.name}",
    )
    pagination.use_signing_key(await auth_store.signing_key(database.engine, auth_store.PAGE_TOKENS))
    owns_provider = tracer_provider is None
    if tracer_provider is None:
        tracer_provider = tracing.tracer_provider_for(definition.name, settings)
    context = ServiceContext(
        settings=settings, database=database, clock=clock or SystemClock(), tracer_provider=tracer_provider
    )
    authenticator = Authenticator(database.engine, settings.auth_cache_seconds, context.clock)
    interceptor = ServerInterceptor(definition.name, authenticator)
    server = grpc.aio.server(
        # The span first: it covers the whole call, refusals and injected faults included.
        interceptors=[tracing.server_interceptor(tracer_provider), *extra_interceptors, interceptor],
        options=[*SERVER_OPTIONS, ("grpc.so_reuseport", int(share_port))],
    )
    try:
        bound = (
            server.add_secure_port(address, credentials)
            if (credentials := _server_credentials(settings))
            else server.add_insecure_port(address)
        )
    except RuntimeError:  # taken since the check, by a process that started at the same time
        await database.dispose()
        if owns_provider:
            await tracing.shut_down(tracer_provider)
        raise CannotListen(
            f"{definition.name} cannot listen on {address}; {_another_port(definition.name)}"
        ) from None
    loopback = loopback_address() if serve_http else None
    if loopback is not None:
        server.add_insecure_port(loopback[1])  # a folder only this user may enter
    service_names = list(definition.register(server, context))
    if owns_provider:  # last of the hooks: the spans of everything before it are exported
        context.on_stop.append(lambda: tracing.shut_down(tracer_provider))
    # Every service manages the keys of all: they share the auth schema (O-3).
    service_names.append(add_api_key_service(server, database, context.clock))

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(server, [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name])

    await server.start()
    http = None
    if loopback is not None:
        try:
            http = await _start_gateway(
                definition.name,
                settings,
                [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
                interceptor,
                loopback,
                http_port,
                share_port=share_port,
            )
        except BaseException:
            await server.stop(0)
            await database.dispose()
            raise
    health_names = ("", *service_names)
    for name in health_names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    probe = DatabaseProbe(database.conninfo)
    context.background.append(
        asyncio.create_task(follow_database(health_servicer, definition.name, health_names, probe))
    )
    log.info(
        "server.started",
        service=definition.name,
        address=f"{settings.host}:{bound}",
        http_address=f"{settings.host}:{http.port}" if http else None,
        tls=credentials is not None,
    )
    return RunningServer(definition, server, bound, context, health_servicer, http)


async def _start_gateway(
    service: str,
    settings: Settings,
    service_names: Sequence[str],
    interceptor: ServerInterceptor,
    loopback: tuple[Path, str],
    port: int,
    *,
    share_port: bool,
) -> HttpServer:
    folder, address = loopback
    try:
        sock = listening_socket(settings.host, port, share_port=share_port)
    except OSError:  # taken since the check, by a process that started at the same time
        raise CannotListen(
            f"{service} cannot listen on {settings.host}:{port}; {_another_port(service, http=True)}"
        ) from None
    channel = grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    gateway = ConnectGateway(service, service_names, channel, interceptor.refusal)
    ssl_context = (
        http_ssl_context(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
        if settings.tls_cert_file is not None and settings.tls_key_file is not None
        else None
    )
    return await start_http(
        gateway, channel, folder, sock, ssl_context=ssl_context, grace=settings.shutdown_grace_seconds
    )


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    chain = settings.tls_cert_file.read_bytes()
    key = settings.tls_key_file.read_bytes()
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


FREED_MEMORY_RETURN_SECONDS = 5.0


async def return_freed_memory(every: float = FREED_MEMORY_RETURN_SECONDS) -> None:
    """Every few seconds, give the memory that ended calls freed back to the system (X-7).

    glibc keeps freed blocks in its arenas for reuse and returns only the top of one of
    them, so a burst of large requests (accepted or refused) leaves the process at its
    peak: 16 clients sending 30 MB requests for 30 s left a server at 0.9–1.5 GB after
    they stopped, against 98 MB at rest, and ``malloc_trim`` brought it back to 104 MB.
    A trim takes about 5 ms and runs in a thread, off the event loop. Elsewhere than
    glibc this returns at once.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(trim, 0)


def tune_gc_for_serving() -> None:
    """Make the garbage collector cheap for a long-running server process.

    Everything allocated while starting up (modules, descriptors, the servicers) lives
    for the whole process: freezing it keeps every collection from re-scanning it. A
    higher first-generation threshold lets the many short-lived objects of a request
    batch die by reference counting before a collection runs at all.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def serve_until_signalled(
    definition: ServiceDefinition,
    settings: Settings,
    database_url: str,
    *,
    port: int | None = None,
    share_port: bool = False,
) -> None:
    """Run one service until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(definition, settings, database_url, port=port, share_port=share_port)
    tune_gc_for_serving()
    running.context.background.append(asyncio.create_task(return_freed_memory()))
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    # One write of the whole line: processes sharing a port share stdout, and with
    # unbuffered output print() writes the text and its newline apart, which interleave.
    sys.stdout.write(
        listening_line(
            definition.name, running.address, settings.log_format, http_address=running.http_address
        )
    )
    sys.stdout.flush()
    await stop_requested.wait()
    await running.stop()
