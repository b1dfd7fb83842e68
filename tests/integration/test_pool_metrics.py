"""Database pool metrics (O-4): connections in use of each pool of a service process
(the engine's, for units of work; the raw one of the hot paths), and how long taking one
took, on a database of the tests' PostgreSQL and through a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import sqlalchemy as sa

from drawdown import suite as suite_definitions
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.db.engine import Database
from tests.support.harness import bearer, start_one
from tests.support.scrape import delta, scrape

IN_USE = "drawdown_db_pool_connections_in_use"
WAIT = "drawdown_db_pool_wait_seconds"
HELD_SECONDS = 0.05


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A service process's database with one connection per pool."""
    db = Database(database_url, pool_size=2)  # one connection per pool
    try:
        yield db
    finally:
        await db.dispose()


async def test_connections_in_use_are_counted_per_pool_o4(database: Database) -> None:
    before = scrape()
    async with database.transaction() as tx:
        await tx.fetch("SELECT 1")
        raw_held = scrape()
    async with database.unit_of_work() as uow:
        await uow.session.connection()
        engine_held = scrape()
    after = scrape()

    assert delta(before, raw_held, IN_USE, pool="raw") == 1
    assert delta(before, raw_held, IN_USE, pool="engine") == 0
    assert delta(before, engine_held, IN_USE, pool="engine") == 1
    assert delta(before, engine_held, IN_USE, pool="raw") == 0
    assert delta(before, after, IN_USE, pool="raw") == 0
    assert delta(before, after, IN_USE, pool="engine") == 0
    assert delta(before, after, f"{WAIT}_count", pool="raw") == 1
    assert delta(before, after, f"{WAIT}_count", pool="engine") == 1


async def test_a_wait_for_a_free_connection_is_timed_o4(database: Database) -> None:
    before = scrape()
    async with database.transaction() as first:
        await first.fetch("SELECT 1")
        second = asyncio.create_task(database.transaction().__aenter__())
        await asyncio.sleep(0)  # the second call is now waiting for the only connection
        assert not second.done()
        # The first call holds the connection for a database round trip of HELD_SECONDS.
        async with database.unit_of_work() as uow:
            await uow.session.execute(sa.text(f"SELECT pg_sleep({HELD_SECONDS})"))
    waited = await second
    await waited.__aexit__(None, None, None)
    after = scrape()

    assert delta(before, after, f"{WAIT}_count", pool="raw") == 2
    assert delta(before, after, f"{WAIT}_sum", pool="raw") >= HELD_SECONDS
    assert delta(before, after, f"{WAIT}_bucket", pool="raw", le="0.025") == 1  # the first took no wait
    assert delta(before, after, IN_USE, pool="raw") == 0


async def test_a_real_server_measures_both_pools_o4(database_url: str) -> None:
    key = auth_store.create_key(database_url, Role.ADMIN, label="pools").token
    async with start_one(suite_definitions.definition("credits"), database_url) as credits:
        async with grpc.aio.insecure_channel(credits.address) as channel:
            before = scrape()
            await balance_grpc.CreditBalanceServiceStub(channel).GetCreditBalanceSummary(
                balance_pb.GetCreditBalanceSummaryRequest(customer_id="cus_pools"), metadata=bearer(key)
            )
            read_raw = scrape()
            await grant_grpc.CreditGrantServiceStub(channel).ListCreditGrants(
                grant_pb.ListCreditGrantsRequest(customer_id="cus_pools"), metadata=bearer(key)
            )
            read_engine = scrape()
    assert delta(before, read_raw, f"{WAIT}_count", pool="raw") >= 1
    assert delta(read_raw, read_engine, f"{WAIT}_count", pool="engine") >= 1
