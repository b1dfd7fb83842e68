"""Invoicing's unit of work, which hands out the repositories bound to its transaction,
and units of work that run one after another on one checked-out connection (X-7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from drawdown.db.engine import Database, UnitOfWork
from invoicing_service.store.authorizations import AuthorizationStore
from invoicing_service.store.balance_watches import BalanceWatchStore
from invoicing_service.store.billing import InvoiceStore, SubscriptionStore
from invoicing_service.store.catalog import CatalogStore
from invoicing_service.store.customers import CustomerStore, TestClockStore
from invoicing_service.store.idempotency import RequestStore
from invoicing_service.store.webhooks import WebhookStore


class InvoicingUnit(UnitOfWork):
    """One transaction of the invoicing schema and its repositories: ``invoices``,
    ``subscriptions``, ``catalog`` (products and prices), ``customers``, ``test_clocks``,
    ``webhooks`` (endpoints and deliveries), ``authorizations`` (usage authorizations),
    ``balance_watches`` (the states of auto top-ups and balance alerts) and ``requests`` (the responses stored under
    request ids). ``invoices`` records the events of its status changes in ``outbox``."""

    invoices: InvoiceStore
    subscriptions: SubscriptionStore
    catalog: CatalogStore
    customers: CustomerStore
    test_clocks: TestClockStore
    requests: RequestStore
    webhooks: WebhookStore
    authorizations: AuthorizationStore
    balance_watches: BalanceWatchStore

    async def bind(self) -> None:
        self.invoices = InvoiceStore(self.session, self.outbox)
        self.subscriptions = SubscriptionStore(self.session)
        self.catalog = CatalogStore(self.session)
        self.customers = CustomerStore(self.session)
        self.test_clocks = TestClockStore(self.session)
        self.requests = RequestStore(self.session)
        self.webhooks = WebhookStore(self.session)
        self.authorizations = AuthorizationStore(self.session)
        self.balance_watches = BalanceWatchStore(self.session)


class OnConnection:
    """Units of work that run one after the other on one connection (``Database``'s
    ``unit_of_work`` for one call): each is a transaction of its own, committed or rolled
    back, and the connection stays checked out between them.

    Its advisory locks are session-level: they outlast those transactions, and PostgreSQL
    releases them when the connection ends (a process that died holds none)."""

    def __init__(self, connection: AsyncConnection, database: Database) -> None:
        self._connection = connection
        self._database = database

    def unit_of_work(self) -> InvoicingUnit:
        session = AsyncSession(bind=self._connection, expire_on_commit=False, autoflush=False)
        return self._database.adopt(InvoicingUnit(session))

    async def lock(self, name: str) -> None:
        """Hold the advisory lock ``name``, waiting while another connection holds it."""
        await self._select(sa.func.pg_advisory_lock(_lock_key(name)))

    async def try_lock(self, name: str) -> bool:
        """Hold the advisory lock ``name`` if no other connection holds it; whether it did."""
        return bool(await self._select(sa.func.pg_try_advisory_lock(_lock_key(name))))

    async def unlock(self, name: str) -> bool:
        """Release the advisory lock ``name``; False when the connection is lost (and the
        lock with it)."""
        return await self._released(sa.func.pg_advisory_unlock(_lock_key(name)))

    async def unlock_all(self) -> bool:
        """Release every advisory lock held; False when the connection is lost (and its
        locks with it)."""
        return await self._released(sa.func.pg_advisory_unlock_all())

    async def _released(self, unlock: sa.ColumnElement[Any]) -> bool:
        try:
            await self._select(unlock)
        except sa.exc.DBAPIError:
            return False
        return True

    async def _select(self, function: sa.ColumnElement[Any]) -> Any:
        """The function's value, in a transaction of its own: between units of work the
        connection is idle."""
        value = (await self._connection.execute(sa.select(function))).scalar()
        await self._connection.commit()
        return value


@asynccontextmanager
async def on_one_connection(database: Database) -> AsyncIterator[OnConnection]:
    """Units of work on one pooled connection of ``database``, checked out for the block."""
    async with database.engine.connect() as connection:
        yield OnConnection(connection, database)


def _lock_key(name: str) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(name, 0)
