"""The database of a service process: the SQLAlchemy engine and its unit of work, and a
small pool of raw psycopg connections for hot paths.

Most use cases run in a ``UnitOfWork`` (an ORM session on the engine's pool). Hot paths
that send only constant SQL use ``Database.transaction()`` and ``Database.reading()``
instead: a psycopg connection taken from ``ConnectionPool`` once per call, with no
pre-ping, no session, no statement compilation and no greenlet hop, because on those
paths SQLAlchemy's checkout and execution machinery cost more CPU than the statements.
``fetch`` runs constant SQL on either kind of connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from drawdown.db.urls import libpq_url, sqlalchemy_url

# How long a call waits for a free pooled connection before DATABASE_BUSY (UNAVAILABLE),
# as SQLAlchemy's pool does.
POOL_TIMEOUT_SECONDS = 30.0


class Database:
    """One engine (connection pool) per service process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.connections = ConnectionPool(libpq_url(url), size=pool_size)

    def unit_of_work(self) -> UnitOfWork:
        """A transaction that rolls back unless ``commit()`` is called (Cosmic Python's UoW)."""
        return UnitOfWork(self._sessions())

    def transaction(self) -> Transaction:
        """A raw pooled connection in a transaction that rolls back unless
        ``commit()`` is called: ``async with db.transaction() as tx: await tx.fetch(...)``."""
        return Transaction(self.connections, begin=True)

    def reading(self) -> Transaction:
        """A raw pooled connection in autocommit, for reads that are one statement each
        (or need no snapshot across statements): no BEGIN or ROLLBACK round trips."""
        return Transaction(self.connections, begin=False)

    async def dispose(self) -> None:
        await self.connections.close()
        await self.engine.dispose()


class UnitOfWork:
    """``async with db.unit_of_work() as uow: ...; await uow.commit()``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.committed = False

    async def __aenter__(self) -> UnitOfWork:
        await self.session.begin()
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self.committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()


class ConnectionPool:
    """Up to ``size`` psycopg connections (autocommit, named-tuple rows), opened on first
    need and reused. A connection is handed out without a ping: a dead one shows on its
    first statement, and ``Connection`` then replaces it and sends the statement again
    (nothing ran on it yet, so that is safe)."""

    def __init__(self, conninfo: str, *, size: int) -> None:
        self._conninfo = conninfo
        self._idle: deque[psycopg.AsyncConnection[Any]] = deque()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), POOL_TIMEOUT_SECONDS)
            except TimeoutError:
                raise sa.exc.TimeoutError("no database connection free in time") from None
        else:
            await self._slots.acquire()
        try:
            return self._idle.pop() if self._idle else await self.connect()
        except BaseException:
            self._slots.release()
            raise

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, row_factory=namedtuple_row
            )
        except psycopg.Error as error:
            raise sa.exc.DBAPIError.instance(None, None, error, psycopg.Error) from error

    async def release(self, driver: psycopg.AsyncConnection[Any]) -> None:
        """Take the connection back: idle ones are kept, anything else is closed."""
        try:
            if (
                not self._closed
                and not driver.broken
                and driver.info.transaction_status == pq.TransactionStatus.IDLE
            ):
                self._idle.append(driver)
            else:
                await driver.close()
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


class Transaction:
    """One call's pooled connection; with ``begin``, in a transaction that rolls back
    unless committed. Use as ``async with``; it yields itself."""

    __slots__ = ("_pool", "_begin", "_driver", "_fresh", "_committed")

    def __init__(self, pool: ConnectionPool, *, begin: bool) -> None:
        self._pool = pool
        self._begin = begin
        self._driver: psycopg.AsyncConnection[Any] | None = None
        self._fresh = True
        self._committed = False

    async def __aenter__(self) -> Transaction:
        self._driver = await self._pool.acquire()
        if self._begin:
            await self.fetch("BEGIN")
        return self

    async def fetch(self, statement: str, params: Mapping[str, object] | None = None) -> list[Any]:
        """Run constant SQL; the rows as named tuples (none for a statement without rows).

        Driver errors are raised as SQLAlchemy's, as on the engine, so that the RPC layer
        maps a deadlock to ABORTED and a lost connection to UNAVAILABLE.
        """
        driver = self._driver
        assert driver is not None
        try:
            cursor = await driver.execute(statement, params)
            rows = await cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError as error:
            if not (self._fresh and driver.broken):
                raise sa.exc.DBAPIError.instance(statement, params, error, psycopg.Error) from error
            # The pooled connection died while idle (a restart, an idle timeout): nothing
            # ran on it in this call, so a new connection may send the statement again.
            await driver.close()
            self._driver = None
            self._driver = await self._pool.connect()
            self._fresh = False
            return await self.fetch(statement, params)
        except psycopg.Error as error:
            raise sa.exc.DBAPIError.instance(statement, params, error, psycopg.Error) from error
        self._fresh = False
        return rows

    async def commit(self) -> None:
        await self.fetch("COMMIT")
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        driver = self._driver
        if driver is None:
            return
        self._driver = None
        try:
            if self._begin and not self._committed and not driver.broken:
                if driver.info.transaction_status in (
                    pq.TransactionStatus.INTRANS,
                    pq.TransactionStatus.INERROR,
                ):
                    await driver.execute("ROLLBACK")
        except psycopg.Error:
            pass  # release closes a connection that is not idle
        finally:
            await self._pool.release(driver)


async def fetch(
    db: AsyncConnection | Transaction, statement: str, params: Mapping[str, object] | None = None
) -> list[Any]:
    """Run constant SQL in ``db``'s transaction: a ``Transaction``, or the psycopg connection
    under an engine connection (so that code shared with Core paths needs no second form).
    Rows are named tuples; driver errors are raised as SQLAlchemy's."""
    if isinstance(db, Transaction):
        return await db.fetch(statement, params)
    driver: psycopg.AsyncConnection = (await db.get_raw_connection()).driver_connection
    try:
        async with driver.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(statement, params)
            return await cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(statement, params, error, psycopg.Error) from error
