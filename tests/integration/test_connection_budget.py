"""DRAWDOWN_DB_POOL_SIZE is what a server process opens, all told: many concurrent calls
of both kinds (raw hot paths and units of work) through a real server never show more
backends named for it in ``pg_stat_activity``, and every call still completes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
import psycopg
import pytest

from credits_service.app import DEFINITION as CREDITS
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.db.engine import Database, hot_path_connections
from drawdown.db.urls import libpq_url
from tests.integration.credits.credit_api_builders import T0, CreditsClient, invoice, line, minor, new_grant
from tests.support.harness import Suite, start_one

BUDGET = 6  # the probe, LISTEN, 2 raw, 2 for units of work
CALLS = 48


def test_the_raw_pool_takes_half_the_budget_rounded_up_and_the_engine_the_rest() -> None:
    assert [hot_path_connections(size) for size in (2, 3, 4, 8, 15)] == [1, 2, 2, 4, 8]
    with pytest.raises(ValueError, match="2 connections at least"):
        hot_path_connections(1)


def test_a_database_pools_no_more_than_its_size_between_engine_and_raw_pool() -> None:
    database = Database("postgresql://127.0.0.1/unused", pool_size=7)
    assert database.pool_sizes == (3, 4)
    assert database.engine.pool.size() + database.engine.pool._max_overflow == 3  # type: ignore[attr-defined]


@asynccontextmanager
async def credits_clients(database_url: str, count: int) -> AsyncIterator[list[CreditsClient]]:
    """``count`` clients of one credits server with a budget of BUDGET, each on its own connection."""
    async with start_one(CREDITS, database_url, db_pool_size=BUDGET) as server:
        suite = Suite(
            database_url,
            {"credits": server},
            auth_store.create_key(database_url, Role.ADMIN, label="admin").token,
        )
        channels = [
            grpc.aio.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(count)
        ]
        try:
            yield [CreditsClient.on(suite, channel) for channel in channels]
        finally:
            await asyncio.gather(*(channel.close() for channel in channels))


async def _most_backends_while(database_url: str, work: asyncio.Future) -> int:
    """The largest number of backends of ``drawdown credits`` on this database seen while
    ``work`` runs (sampled back to back, each sample one round trip)."""
    most = 0
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as watcher:
        while not work.done():
            cursor = await watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'drawdown credits'"
            )
            (count,) = await cursor.fetchone()  # type: ignore[misc]
            most = max(most, count)
    return most


async def test_concurrent_calls_never_open_more_than_the_budget(database_url: str) -> None:
    async with credits_clients(database_url, CALLS) as clients:
        # Grants are units of work (engine pool); balances, holds and applies are hot paths
        # (raw pool): every call opens connections of both kinds at once.
        async def one(n: int, client: CreditsClient) -> tuple[int, int]:
            customer_id = f"cus_{n}"
            await client.create(new_grant(1000, customer_id=customer_id), request_id=f"grant-{n}")
            await client.hold(invoice(f"in_{n}", line("il_1", 300), customer_id=customer_id))
            applied = await client.apply(invoice(f"in_{n}", line("il_1", 300), customer_id=customer_id))
            balances = await client.summary(customer_id, as_of=T0 + timedelta(days=40))
            return minor(applied.total), balances["USD"]

        work = asyncio.ensure_future(asyncio.gather(*(one(n, c) for n, c in enumerate(clients))))
        most = await _most_backends_while(database_url, work)
        results = await work

    assert results == [(300, (700, 700))] * CALLS
    assert 0 < most <= BUDGET
