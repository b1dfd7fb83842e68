"""A service under benchmark in its own processes, as it runs in production:
``drawdown serve <service>`` on a free port of 127.0.0.1, so that the load generator and
the server do not share a Python interpreter."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from drawdown.logs import listening_address

OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
"""Channel option: this channel opens a TCP connection of its own. Without it, gRPC shares
one connection among every channel to the same address with the same options, so that N
clients would be N streams on one connection, all served by one of N server processes."""


@dataclass
class ServiceProcess:
    process: asyncio.subprocess.Process
    address: str

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the service's processes (Linux /proc)."""
        return sum(_cpu_seconds(pid) for pid in _with_descendants(self.process.pid))

    def rss_mib(self) -> float:
        """Resident set size of the service's processes together, in MiB (Linux /proc)."""
        return sum(_rss_mib(pid) for pid in _with_descendants(self.process.pid))

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()


async def serve(
    service: str, url: str, *, processes: int = 1, pool_size: int = 10, env: dict[str, str] | None = None
) -> ServiceProcess:
    """Start ``service`` with ``processes`` server processes (DRAWDOWN_PROCESSES) sharing
    one free port, with ``env`` added to its environment (invoicing: its peers' addresses
    and service key); returns once every one is listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "DRAWDOWN_DATABASE_URL": url,
        "DRAWDOWN_HOST": "127.0.0.1",
        "DRAWDOWN_MIGRATE_ON_START": "false",
        "DRAWDOWN_DB_POOL_SIZE": str(pool_size),
        "DRAWDOWN_PROCESSES": str(processes),
        "DRAWDOWN_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drawdown.cli",
        "serve",
        service,
        "--port",
        str(port),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    listening = 0
    while listening < processes:
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {service} server did not start (exit code {await process.wait()})")
        listening += listening_address(line) is not None
    return ServiceProcess(process, f"127.0.0.1:{port}")


def _with_descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in _with_descendants(int(child)))]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # exited meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # exited meanwhile
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
