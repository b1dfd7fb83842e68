"""Concurrent draws on one customer through a real server (C-14): no overdraft, no deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest

from drawdown.db.urls import libpq_url
from tests.integration.credits.credit_api_builders import (
    T0,
    CreditsClient,
    clients_on_own_connections,
    invoice,
    line,
    minor,
    new_grant,
)
from tests.support.harness import Suite

CLIENTS = 32
LATER = T0 + timedelta(days=40)


@pytest.fixture
async def clients(running_suite: Suite) -> AsyncIterator[list[CreditsClient]]:
    """One client per connection: every call travels a connection of its own."""
    async with clients_on_own_connections(running_suite, CLIENTS) as clients:
        yield clients


async def test_c14_32_concurrent_applies_draw_exactly_min_of_eligible_and_granted(
    clients: list[CreditsClient],
) -> None:
    granted = [3000, 4000, 3000]
    grants = [
        await clients[0].create(new_grant(amount=amount, priority=n)) for n, amount in enumerate(granted)
    ]
    eligible_per_invoice = 500  # 32 x 5.00 = 16.00 USD eligible, 10.00 USD granted

    allocations = await asyncio.gather(
        *(
            client.apply(invoice(f"in_{n}", line("il_1", eligible_per_invoice)))
            for n, client in enumerate(clients)
        )
    )

    total = sum(minor(a.total) for a in allocations)
    assert total == min(CLIENTS * eligible_per_invoice, sum(granted))
    assert all(minor(a.total) <= eligible_per_invoice for a in allocations)
    for grant in grants:
        assert minor((await clients[0].get(grant.id)).ledger_balance) == 0
    debits = [t for t in await clients[0].transactions(page_size=100) if t.HasField("debit")]
    assert sum(minor(t.debit.amount) for t in debits) == total


async def test_c14_the_same_apply_sent_10_times_concurrently_posts_once(clients: list[CreditsClient]) -> None:
    await clients[0].create(new_grant(amount=1000))
    same = invoice("in_replayed", line("il_1", 400), line("il_2", 400))

    allocations = await asyncio.gather(*(client.apply(same) for client in clients[:10]))

    assert all(a == allocations[0] for a in allocations)
    assert minor(allocations[0].total) == 800
    debits = [t for t in await clients[0].transactions() if t.HasField("debit")]
    assert sorted(t.id for t in debits) == sorted(
        c.credit_balance_transaction_id for c in allocations[0].line_credits
    )


async def test_calls_survive_the_database_dropping_idle_pooled_connections(
    running_suite: Suite, clients: list[CreditsClient]
) -> None:
    """Pooled connections are handed out without a ping: one that died while idle (a
    database restart, an idle timeout) is replaced on its first statement, and the call
    goes on as if nothing happened."""
    credits = clients[0]
    await credits.create(new_grant(amount=1000))
    assert await credits.summary(as_of=LATER) == {"USD": (1000, 1000)}
    await credits.hold(invoice("in_1", line("il_1", 100)))

    with psycopg.connect(libpq_url(running_suite.database_url), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    assert await credits.summary(as_of=LATER) == {"USD": (900, 1000)}
    assert minor((await credits.hold(invoice("in_2", line("il_1", 200)))).total) == 200
    assert minor((await credits.apply(invoice("in_1", line("il_1", 300)))).total) == 300
    assert await credits.summary(as_of=LATER) == {"USD": (500, 700)}
