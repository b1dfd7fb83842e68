"""Health follows the database (O-2).

Every second a server sends ``SELECT 1`` on a connection of its own, outside the pools
that serve calls (so a busy pool does not read as an unreachable database, and the probe
adds nothing to the calls' paths). While it gets no answer within 2 s, health reports
NOT_SERVING for "" and each of the server's services; once it gets one, SERVING again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import psycopg
import structlog
from grpc_health.v1 import health, health_pb2

log = structlog.get_logger("drawdown.health")

PROBE_INTERVAL_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0


class DatabaseProbe:
    """``SELECT 1`` on one connection, kept open between probes and opened again after
    a failure."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection: psycopg.AsyncConnection | None = None

    async def reachable(self) -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                if self._connection is None:
                    self._connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                await self._connection.execute("SELECT 1")
        except (psycopg.Error, OSError, TimeoutError):
            await self.close()
            return False
        return True

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


async def follow_database(
    servicer: health.aio.HealthServicer,
    service: str,
    service_names: Sequence[str],
    probe: DatabaseProbe,
) -> None:
    """Set each of ``service_names`` (the health names of ``service``'s server) SERVING or
    NOT_SERVING as ``probe`` finds the database, from SERVING (the server has just reached
    it to start), until cancelled."""
    serving = True
    try:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            reachable = await probe.reachable()
            if reachable == serving:
                continue
            serving = reachable
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in service_names:
                await servicer.set(name, status)
            if serving:
                log.info("health.database_reachable", service=service, status="SERVING")
            else:
                log.warning("health.database_unreachable", service=service, status="NOT_SERVING")
    finally:
        await probe.close()
