"""The interceptor's key cache (O-3) on a real key store: the database is asked about a
key once per cache period, however many calls carry it at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa

from drawdown.auth import store
from drawdown.auth.roles import Role
from drawdown.clock import FrozenClock
from drawdown.db.engine import Database
from drawdown.rpc.interceptors import Authenticator
from tests.support.harness import bearer

T0 = datetime(2031, 3, 14, 9, 0, tzinfo=UTC)


async def key_lookups(database_url: str, cache_seconds: float, calls: int, *, together: bool) -> int:
    """How many times the key store is read while ``calls`` calls carry one key."""
    token = store.create_key(database_url, Role.READ, "cache").token
    database = Database(database_url)
    sent: list[str] = []
    sa.event.listen(
        database.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *rest: sent.append(sql),
    )
    authenticator = Authenticator(database.engine, cache_seconds, FrozenClock(T0))
    try:
        if together:
            await asyncio.gather(*(authenticator.principal(bearer(token)) for _ in range(calls)))
        else:
            for _ in range(calls):
                await authenticator.principal(bearer(token))
    finally:
        await database.dispose()
    return sum("FROM auth.api_keys" in statement for statement in sent)


async def test_calls_arriving_together_share_one_lookup(database_url: str) -> None:
    assert await key_lookups(database_url, 5.0, 50, together=True) == 1


async def test_a_verified_key_is_trusted_for_the_cache_period(database_url: str) -> None:
    assert await key_lookups(database_url, 5.0, 3, together=False) == 1


async def test_without_a_cache_every_call_looks_the_key_up(database_url: str) -> None:
    assert await key_lookups(database_url, 0.0, 3, together=False) == 3
