"""The raw pooled transactions the credits hot paths run on (``Database.transaction``),
against a real PostgreSQL: statements queued for the next round trip run in order, a
check on a queued statement can still refuse the commit, and nothing outlives a
transaction that was not committed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drawdown.db.engine import Database

TABLE = "credits.credit_customers"
NOW = "2030-01-01T00:00:00Z"


class Refused(Exception):
    pass


def refuse(rows: list) -> None:
    raise Refused


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=2)
    yield db
    await db.dispose()


async def customers(database: Database) -> list[str]:
    async with database.reading() as db:
        return [row.customer_id for row in await db.fetch(f"SELECT customer_id FROM {TABLE} ORDER BY 1")]


def insert(customer_id: str) -> tuple[str, dict[str, object]]:
    return (
        f"INSERT INTO {TABLE} (customer_id, create_time) VALUES (%(id)s, %(now)s) RETURNING customer_id",
        {"id": customer_id, "now": NOW},
    )


async def test_queued_statements_run_before_the_next_round_trip_and_commit(database: Database) -> None:
    async with database.transaction() as tx:
        tx.queue(*insert("cus_1"))
        tx.queue(*insert("cus_2"))
        [seen] = await tx.fetch_many([(f"SELECT count(*) AS n FROM {TABLE}", None)])
        assert seen[0].n == 2
        tx.queue(*insert("cus_3"))
        await tx.commit()
    assert await customers(database) == ["cus_1", "cus_2", "cus_3"]


async def test_a_check_refusing_a_queued_statement_prevents_the_commit(database: Database) -> None:
    with pytest.raises(Refused):
        async with database.transaction() as tx:
            tx.queue(*insert("cus_1"), check=refuse)
            tx.queue(*insert("cus_2"))
            await tx.commit()
    assert await customers(database) == []


async def test_an_uncommitted_transaction_leaves_nothing_and_its_connection_is_reused(
    database: Database,
) -> None:
    for _ in range(3):  # more transactions than pooled connections
        async with database.transaction() as tx:
            assert await tx.fetch(*insert("cus_1")) != []
    async with database.transaction() as tx:
        tx.queue(*insert("cus_1"))
        await tx.commit()
    assert await customers(database) == ["cus_1"]
