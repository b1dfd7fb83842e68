"""The ``drawdown`` command: run the suite or one service, migrate, manage API keys, reset.

Failures an operator can fix (a wrong database URL, a port in use, no suite running, no
API key) and Ctrl-C end in one line on stderr and a non-zero exit code, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError
from rich.console import Console

from drawdown import console, suite
from drawdown.auth import store as auth_store
from drawdown.auth.lifecycle import ApiKeys
from drawdown.auth.roles import Role
from drawdown.clock import FrozenClock, SystemClock
from drawdown.command_errors import DATABASE_ERRORS, CommandError, database_problem, settings_problem
from drawdown.config import SERVICES, ServiceName, Settings
from drawdown.db.engine import Database, UnitOfWork
from drawdown.errors import DomainError
from drawdown.logs import configure_logging
from drawdown.metrics import serve_metrics
from drawdown.rpc.server import CannotListen, migrate, refuse_served_port, serve_until_signalled

STARTUP_TIMEOUT_SECONDS = 60
INTERRUPTED_EXIT_CODE = 128 + signal.SIGINT
LOCAL_STATE = ("postgres", "dev-api-key", "service-api-key")  # what `drawdown reset` deletes


class Interrupted(Exception):
    """SIGINT (Ctrl-C) stopped the command before it finished."""


HEALTH_CHECK_TIMEOUT_SECONDS = 2
SERVICE_KEY_FILE = "service-api-key"
ADMIN_KEY_FILE = "admin-api-key"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.port is not None:
        settings = settings.model_copy(update={f"{args.service}_port": args.port})
    if args.http_port is not None:
        settings = settings.model_copy(update={f"{args.service}_http_port": args.http_port})
    url = suite.database_url(settings)
    if settings.processes > 1:
        return _serve_processes(args.service, settings, url)
    serve_metrics(settings.metrics_port, settings.host)
    definition = suite.definition(args.service)
    asyncio.run(serve_until_signalled(definition, settings, url, share_port=args.share_port))
    return 0


def _serve_processes(service: ServiceName, settings: Settings, url: str) -> int:
    """Run ``settings.processes`` processes of one service on one port (SO_REUSEPORT: the
    kernel spreads connections over them), with their metrics merged on one /metrics
    port; stop them all on a signal, or when one exits."""
    port, http_port = settings.port_of(service), settings.http_port_of(service)
    if port == 0 or (settings.http_enabled and http_port == 0):
        raise SystemExit("drawdown: DRAWDOWN_PROCESSES > 1 needs fixed ports, which the processes share")
    refuse_served_port(service, settings.host, port)
    if settings.http_enabled:
        refuse_served_port(service, settings.host, http_port, http=True)
    if settings.migrate_on_start:
        migrate(url, suite.definition(service))
    stop = _StopSignal()
    with tempfile.TemporaryDirectory(prefix=f"drawdown-{service}-metrics-") as metrics_dir:
        serve_metrics(settings.metrics_port, settings.host, multiprocess_dir=metrics_dir)
        env = {
            **os.environ,
            "DRAWDOWN_DATABASE_URL": url,
            f"DRAWDOWN_{service.upper()}_PORT": str(port),
            f"DRAWDOWN_{service.upper()}_HTTP_PORT": str(http_port),
            "DRAWDOWN_PROCESSES": "1",
            "DRAWDOWN_MIGRATE_ON_START": "false",
            "DRAWDOWN_METRICS_PORT": "0",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        children = {
            f"{service}[{index}]": _start_child(service, env, share_port=True)
            for index in range(settings.processes)
        }
        return _supervise(children, stop, settings)


def _start_child(
    service: ServiceName, env: dict[str, str], stdout: int | None = None, *, share_port: bool = False
) -> subprocess.Popen[bytes]:
    """``drawdown serve <service>`` in its own process group: Ctrl-C in the terminal reaches
    only the supervisor, which stops its children with SIGTERM, each once. ``share_port``:
    one of the processes of a service run with DRAWDOWN_PROCESSES (O-1)."""
    command = [
        sys.executable,
        "-m",
        "drawdown.cli",
        "serve",
        service,
        *(["--share-port"] if share_port else []),
    ]
    return subprocess.Popen(command, env=env, stdout=stdout, process_group=0)


def _supervise(children: dict[str, subprocess.Popen[bytes]], stop: _StopSignal, settings: Settings) -> int:
    """Wait for a stop signal or a child's unexpected exit (1); then stop every child."""
    try:
        while not stop.requested:
            exited = [name for name, child in children.items() if child.poll() is not None]
            if exited:
                print(f"drawdown: {', '.join(exited)} exited unexpectedly; stopping", file=sys.stderr)
                return 1
            stop.wait(0.5)
    finally:
        _stop_children(children, settings.shutdown_grace_seconds + 5)
    if stop.interrupted:
        raise Interrupted
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    suite.migrate_all(suite.database_url(settings))
    print("Migrations applied: auth, " + ", ".join(SERVICES))
    return 0


DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"([1-9][0-9]*)([smhd])")


def duration(text: str) -> timedelta:
    """A duration such as ``15m``, ``2h`` or ``30d`` (seconds, minutes, hours, days)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 15m, 2h or 30d")
    return timedelta(**{DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _expiry_of(args: argparse.Namespace, keys: ApiKeys) -> datetime | None:
    """When a key made with ``--expires-in`` expires; None without it."""
    return None if args.expires_in is None else keys.now() + args.expires_in


KEY_COLUMNS = [
    console.Column("id", lambda key: key.id, no_wrap=True),
    console.Column("role", lambda key: key.role.value),
    console.Column("label", lambda key: key.label),
    console.Column("created", lambda key: _when(key.created_at)),
    console.Column("expires", lambda key: _when(key.expire_at)),
    console.Column("revoked", lambda key: _when(key.revoked_at)),
    console.Column("last used", lambda key: _when(key.last_used_at)),
]


async def _create_key(args: argparse.Namespace, keys: ApiKeys, uow: UnitOfWork) -> None:
    created = await keys.create(
        uow.session, Role(args.role), args.label or f"{args.role} key", _expiry_of(args, keys)
    )
    expiry = f", expiring {_when(created.key.expire_at)}" if created.key.expire_at else ""
    print(
        f"Created {args.role} key {created.key.id}{expiry}. It is shown once; store it now:\n{created.token}"
    )


async def _list_keys(args: argparse.Namespace, keys: ApiKeys, uow: UnitOfWork) -> None:
    found: list[auth_store.ApiKey] = []
    before: tuple[datetime, str] | None = None
    while page := await keys.list(uow.session, before, KEYS_PAGE):
        found.extend(page)
        before = (page[-1].created_at, page[-1].id)
    console.render(Console(), "API keys, newest first", found, KEY_COLUMNS)


async def _revoke_key(args: argparse.Namespace, keys: ApiKeys, uow: UnitOfWork) -> None:
    revoked = await keys.revoke(uow.session, args.key_id)
    print(f"Revoked key {revoked.id} at {_when(revoked.revoked_at)}; every server refuses it within 5 s.")


async def _rotate_key(args: argparse.Namespace, keys: ApiKeys, uow: UnitOfWork) -> None:
    rotation = await keys.rotate(uow.session, args.key_id, args.overlap, _expiry_of(args, keys))
    new = rotation.new.key
    expiry = f", expiring {_when(new.expire_at)}" if new.expire_at else ""
    print(
        f"Key {rotation.rotated.id} stops working at {_when(rotation.rotated.expire_at)}.\n"
        f"Created {new.role.value} key {new.id}{expiry}. It is shown once; store it now:\n{rotation.new.token}"
    )


KEYS_PAGE = 100
KEY_COMMANDS = {"create": _create_key, "list": _list_keys, "revoke": _revoke_key, "rotate": _rotate_key}


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    """A ``drawdown keys`` command, on the key store directly: it needs the database, not
    a running suite or a key (the first admin key is made this way)."""
    url = suite.database_url(settings)
    suite.migrate_all(url)

    async def run() -> None:
        database = Database(url, pool_size=2)
        try:
            async with database.unit_of_work() as uow:
                # One moment for the whole command: a key made to expire in 15m does so
                # 15 minutes after its creation time.
                keys = ApiKeys(FrozenClock(SystemClock().now()))
                await KEY_COMMANDS[args.keys_command](args, keys, uow)
                await uow.commit()
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except DomainError as error:
        print(f"drawdown keys {args.keys_command}: {error.message}", file=sys.stderr)
        return 1
    return 0


def _bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    """What a deployment runs before its services start, and may run again on every start:
    migrate every schema, then make sure ``--keys-dir`` holds a valid service key and an
    admin key, creating those missing (a new admin token is printed, once)."""
    url = suite.database_url(settings)
    suite.migrate_all(url)
    print("Migrations applied: auth, " + ", ".join(SERVICES))
    keys_dir: Path = args.keys_dir
    for role, name in ((Role.SERVICE, SERVICE_KEY_FILE), (Role.ADMIN, ADMIN_KEY_FILE)):
        key = suite.key_in_file(url, keys_dir / name, role, label=f"{name} (drawdown bootstrap)")
        print(f"{role.value} key {'created' if key.created else 'kept'} in {keys_dir / name}")
        if key.created and role is Role.ADMIN:
            print(f"The new admin key (shown once here):\n{key.token}")
    return 0


def _health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the server answers SERVING to grpc.health.v1 Check, 1 otherwise. With no
    service or address, the server is whichever of the three this host runs (a container
    runs one, so one image-wide health check fits every service)."""
    if args.address:
        addresses = [args.address]
    else:
        services = [args.service] if args.service else SERVICES
        addresses = [f"127.0.0.1:{settings.port_of(service)}" for service in services]
    answers = [_is_serving(address, args, settings) for address in addresses]
    return 0 if any(answers) else 1


def _is_serving(address: str, args: argparse.Namespace, settings: Settings) -> bool:
    try:
        with _health_channel(address, args, settings) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=HEALTH_CHECK_TIMEOUT_SECONDS
            )
    except grpc.RpcError as error:
        print(f"{address}: {error.code().name}", file=sys.stderr)
        return False
    print(f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}")
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _health_channel(address: str, args: argparse.Namespace, settings: Settings) -> grpc.Channel:
    """Plaintext, or TLS when ``--tls-ca`` is given or these settings serve TLS: a container's
    health check runs with its server's environment, so turning TLS on keeps the check
    working. Without ``--tls-ca`` it trusts the server's own (self-signed) certificate."""
    root: Path | None = args.tls_ca or settings.tls_cert_file
    if root is None:
        return grpc.insecure_channel(address)
    cert, key = args.tls_client_cert, args.tls_client_key
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
    return grpc.secure_channel(address, credentials, options=options)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    """Start the database (embedded unless configured) and the three services; stop on a
    signal. Refused when another ``drawdown up`` uses the home or a port is served (O-1)."""
    with suite.holding_home(settings.home):
        for service in SERVICES:
            refuse_served_port(service, settings.host, settings.port_of(service))
            if settings.http_enabled:
                refuse_served_port(service, settings.host, settings.http_port_of(service), http=True)
        return _run_suite(settings)


def _run_suite(settings: Settings) -> int:
    print("Starting Drawdown: database, migrations, services ...", file=sys.stderr, flush=True)
    url = suite.database_url(settings)
    suite.migrate_all(url)
    dev_key = suite.local_key(url, settings.home, Role.ADMIN, "dev-api-key")
    service_key = settings.service_api_key or suite.local_key(
        url, settings.home, Role.SERVICE, "service-api-key"
    )

    env = {
        **os.environ,
        "DRAWDOWN_DATABASE_URL": url,
        "DRAWDOWN_SERVICE_API_KEY": service_key,
        "DRAWDOWN_MIGRATE_ON_START": "false",
        "DRAWDOWN_METERING_ADDRESS": f"{settings.host}:{settings.metering_port}",
        "DRAWDOWN_CREDITS_ADDRESS": f"{settings.host}:{settings.credits_port}",
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    stop = _StopSignal()
    try:
        for index, service in enumerate(SERVICES):
            child_env = dict(env)
            if settings.metrics_port:
                child_env["DRAWDOWN_METRICS_PORT"] = str(settings.metrics_port + index)
            children[service] = _start_child(service, child_env, stdout=subprocess.DEVNULL)
        for service in SERVICES:
            address = f"{settings.host}:{settings.port_of(service)}"
            _wait_until_serving(service, address, children[service], stop)
        _print_banner(settings, dev_key, url)
    except BaseException:
        _stop_children(children, settings.shutdown_grace_seconds + 5)
        raise
    return _supervise(children, stop, settings)


class _StopSignal:
    """SIGINT, SIGTERM or SIGHUP (its terminal closed) as a flag the supervising loop
    polls, so that the service processes are always stopped with it."""

    def __init__(self) -> None:
        self.requested = False
        self.interrupted = False
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        self.interrupted = self.interrupted or signum == signal.SIGINT

    def wait(self, seconds: float) -> None:
        if not self.requested:
            time.sleep(seconds)


def _wait_until_serving(
    service: str, address: str, child: subprocess.Popen[bytes], stop: _StopSignal
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if stop.interrupted:
                raise Interrupted
            if stop.requested:
                raise SystemExit(0)
            if child.poll() is not None:
                raise CommandError(f"{service} exited during startup (code {child.returncode}); see above")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1, wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                continue
    raise SystemExit(
        f"drawdown: {service} did not become healthy on {address} within {STARTUP_TIMEOUT_SECONDS}s"
    )


def _stop_children(children: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()


def _print_banner(settings: Settings, dev_key: str, url: str) -> None:
    database = (
        "embedded PostgreSQL under " + str(settings.home.resolve())
        if not settings.database_url
        else "configured PostgreSQL"
    )
    print("Drawdown is up.")
    for service in SERVICES:
        http = (
            f"   HTTP/JSON http://{settings.host}:{settings.http_port_of(service)}"
            if settings.http_enabled
            else ""
        )
        print(f"  {service:<10} {settings.host}:{settings.port_of(service)}{http}")
    print(f"  database   {database}")
    print(f"\nDevelopment API key (admin): {dev_key}")
    print(f"  kept in {settings.home / 'dev-api-key'}; send it as 'authorization: Bearer <key>'")
    print(f"\nTry: grpcurl -plaintext {settings.host}:{settings.metering_port} list")
    if settings.http_enabled:
        print(f"  or: curl http://{settings.host}:{settings.metering_http_port}/openapi.json")
    print("Stop with Ctrl-C.", flush=True)


@contextmanager
def suite_in_background(settings: Settings) -> Iterator[Settings]:
    """``drawdown up`` as a child process until the block ends; yields settings to reach it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("Stop with Ctrl-C"):
                break
        else:
            raise SystemExit(f"drawdown: the suite did not start (exit code {child.wait()})")
        yield settings.model_copy(
            update={
                "metering_address": f"{settings.host}:{settings.metering_port}",
                "credits_address": f"{settings.host}:{settings.credits_port}",
                "invoicing_address": f"{settings.host}:{settings.invoicing_port}",
            }
        )
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(settings.shutdown_grace_seconds + 10)
        except subprocess.TimeoutExpired:
            child.kill()


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from drawdown.demo import run_demo

    try:
        if args.start:
            with suite_in_background(settings) as started:
                run_demo(started, as_json=args.json)
        else:
            run_demo(settings, as_json=args.json, api_key=args.api_key)
    except grpc.RpcError as error:
        print(f"drawdown demo: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the embedded database and the dev keys under DRAWDOWN_HOME, nothing else."""
    if settings.database_url:
        raise CommandError(
            "DRAWDOWN_DATABASE_URL is set: reset deletes only the embedded database of DRAWDOWN_HOME; "
            "drop that database yourself, or unset the variable"
        )
    home = settings.home.resolve()
    with suite.holding_home(home):  # refused while a `drawdown up` holds it (O-1)
        deleted = _delete_local_state(args, home)
        (home / "up.lock").unlink(missing_ok=True)
    return deleted


def _delete_local_state(args: argparse.Namespace, home: Path) -> int:
    if pid := _embedded_postgres_pid(home / "postgres"):
        raise CommandError(
            f"a suite is using {home}: its PostgreSQL (pid {pid}) runs; stop `drawdown up` there first"
        )
    present = [home / name for name in LOCAL_STATE if (home / name).exists()]
    if not present:
        print(f"Nothing to reset under {home}.")
        return 0
    if not args.yes and not _confirmed(f"Delete the database and dev keys under {home}?"):
        print("Nothing deleted.")
        return 1
    for path in present:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    print(f"Deleted {', '.join(path.name for path in present)} under {home}.")
    return 0


def _embedded_postgres_pid(data_dir: Path) -> int | None:
    """The pid of the PostgreSQL server running on ``data_dir``, if one is."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return None
    except PermissionError:  # alive, run by another user (embedded_postgres does, started by root)
        pass
    return pid


def _confirmed(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drawdown", description="Usage-based billing with prepaid credits.")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {importlib.metadata.version('drawdown')}"
    )
    commands = parser.add_subparsers(dest="command", required=True, help="what to do")

    up = commands.add_parser(
        "up", help="start the database (embedded unless configured) and all three services"
    )
    up.set_defaults(run=_up)

    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICES, help="the service to run")
    serve.add_argument("--port", type=int, help="override the service's configured port (0: any free port)")
    serve.add_argument(
        "--http-port", type=int, help="override the service's HTTP/JSON port (0: any free port)"
    )
    # Given by `drawdown serve` with DRAWDOWN_PROCESSES to its own processes only (O-1).
    serve.add_argument("--share-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations for every schema")
    migrate.set_defaults(run=_migrate)

    bootstrap = commands.add_parser(
        "bootstrap", help="migrate, and create the service and admin keys a deployment starts with"
    )
    bootstrap.add_argument(
        "--keys-dir", type=Path, required=True, help=f"where {SERVICE_KEY_FILE} and {ADMIN_KEY_FILE} are kept"
    )
    bootstrap.set_defaults(run=_bootstrap)

    health = commands.add_parser("health", help="exit 0 when a server reports SERVING (grpc.health.v1)")
    target = health.add_mutually_exclusive_group()
    target.add_argument(
        "service",
        nargs="?",
        choices=SERVICES,
        help="check this service on 127.0.0.1 at its configured port (default: whichever of the three runs)",
    )
    target.add_argument("--address", help="check the server at HOST:PORT")
    health.add_argument("--tls-ca", type=Path, help="connect with TLS, trusting this CA (PEM)")
    health.add_argument("--tls-server-name", help="the name the server's certificate must hold")
    health.add_argument("--tls-client-cert", type=Path, help="client certificate (PEM), for mTLS")
    health.add_argument("--tls-client-key", type=Path, help="client private key (PEM), for mTLS")
    health.set_defaults(run=_health)

    keys = commands.add_parser("keys", help="manage API keys (on the database: no running suite needed)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    expires_in = {"type": duration, "metavar": "DURATION", "help": "the key expires after this: 15m, 2h, 30d"}
    create = key_commands.add_parser(
        "create", help="create an API key (stored hashed; the token is shown once)"
    )
    create.add_argument(
        "--role", required=True, choices=[role.value for role in Role], help="what the key may call"
    )
    create.add_argument("--label", help="what the key is for")
    create.add_argument("--expires-in", **expires_in)
    key_commands.add_parser("list", help="every key, newest first (never a token)")
    revoke = key_commands.add_parser("revoke", help="revoke a key: every server refuses it within 5 s")
    revoke.add_argument("key_id", help="the key's id (key_…)")
    rotate = key_commands.add_parser("rotate", help="replace a key with a new one of the same role and label")
    rotate.add_argument("key_id", help="the key's id (key_…)")
    rotate.add_argument(
        "--overlap",
        type=duration,
        default=timedelta(0),
        metavar="DURATION",
        help="how long the old key keeps working (default: it stops at once)",
    )
    rotate.add_argument("--expires-in", **expires_in)
    keys.set_defaults(run=_keys)

    demo = commands.add_parser("demo", help="run the Hypernian scenario against a running suite")
    demo.add_argument("--json", action="store_true", help="print the outcome's figures as JSON")
    demo.add_argument("--api-key", help="API key (default: DRAWDOWN_API_KEY, then the dev key)")
    demo.add_argument("--start", action="store_true", help="bring a suite up for the demo and stop it after")
    demo.set_defaults(run=_demo)

    reset = commands.add_parser(
        "reset", help="delete the embedded database and dev keys under DRAWDOWN_HOME (asks first)"
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(run=_reset)

    console.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        return _fail(settings_problem(error))
    configure_logging(settings.log_level, settings.log_format)
    try:
        return args.run(args, settings)
    except (CannotListen, suite.HomeInUse) as refusal:
        return _fail(str(refusal))
    except (KeyboardInterrupt, Interrupted):
        return _fail("interrupted; stopped", INTERRUPTED_EXIT_CODE)
    except CommandError as error:
        return _fail(str(error))
    except DATABASE_ERRORS as error:
        return _fail(database_problem(settings, error))


def _fail(line: str, exit_code: int = 1) -> int:
    print(f"drawdown: {line}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
