"""The database of a service process: the SQLAlchemy engine and its unit of work, and a
small pool of raw psycopg connections for hot paths.

Most use cases run in a ``UnitOfWork`` (an ORM session on the engine's pool), which hands
out the service's repositories bound to its transaction (``uow.invoices``,
``uow.grants`` ...): each service subclasses it, and its use cases take that one handle. Hot paths
that send only constant SQL use ``Database.transaction()`` and ``Database.reading()``
instead: a psycopg connection taken from ``ConnectionPool`` once per call, with no
pre-ping, no session, no statement compilation and no greenlet hop, because on those
paths SQLAlchemy's checkout and execution machinery cost more CPU than the statements.
``fetch`` runs constant SQL on either kind of connection.

The two pools share one budget, ``pool_size``: the raw pool gets a fixed share of it
(``hot_path_connections``, half, rounded up) and the engine the rest, with no overflow,
so a ``Database`` never holds more than ``pool_size`` connections. A call holds at most
one connection of each kind at a time, so each pool needs one connection at least.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.conninfo import make_conninfo
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from drawdown.db.urls import libpq_url, sqlalchemy_url
from drawdown.metrics import DB_POOL_IN_USE, DB_POOL_WAIT

# How long a call waits for a free pooled connection before DATABASE_BUSY (UNAVAILABLE),
# as SQLAlchemy's pool does.
POOL_TIMEOUT_SECONDS = 30.0


Statement = tuple[str, Mapping[str, object] | None]
RowsCheck = Callable[[list[Any]], None]
# Statements made at commit time, to run last in the transaction.
LastStatements = Callable[[], Sequence[Statement]]
# What runs once a transaction has committed (metrics of what it did: O-4).
Committed = Callable[[], None]

_ENGINE_IN_USE = DB_POOL_IN_USE.labels("engine")
_ENGINE_WAIT = DB_POOL_WAIT.labels("engine")
_RAW_IN_USE = DB_POOL_IN_USE.labels("raw")
_RAW_WAIT = DB_POOL_WAIT.labels("raw")


class MeasuredQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's pool for asyncio, timing how long each checkout takes (waiting for a
    free connection, opening or pinging one) and counting those checked out (O-4)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "_dispatch" not in kwargs:  # a pool recreated (dispose) has its predecessor's listeners
            sa.event.listen(self, "checkout", _checked_out)
            sa.event.listen(self, "checkin", _checked_in)

    def connect(self) -> Any:
        started = time.perf_counter()
        connection = super().connect()
        _ENGINE_WAIT.observe(time.perf_counter() - started)
        return connection


def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    _ENGINE_IN_USE.inc()


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    _ENGINE_IN_USE.dec()


UnitOfWorkT = TypeVar("UnitOfWorkT", bound="UnitOfWork")


# Every session runs in UTC: timestamps are stored and compared in UTC, and psycopg can
# read back times near 0001-01-01 and 9999-12-31 only when the session's zone adds no
# offset to them (under another server time zone they fail to decode).
SESSION_OPTIONS = "-c TimeZone=UTC"


def hot_path_connections(pool_size: int) -> int:
    """The raw pool's share of a budget of ``pool_size`` connections: half, rounded up
    (the hot paths are the calls that come by the thousand); the engine gets the rest."""
    if pool_size < 2:
        raise ValueError(f"a database needs 2 connections at least (one per pool), got {pool_size}")
    return (pool_size + 1) // 2


class Database:
    """One per service process: the engine (its pool for units of work) and the raw
    ``ConnectionPool`` of the hot paths, together at most ``pool_size`` connections
    (``hot_path_connections`` of them raw). Connections are opened when first needed, so
    a service without hot paths opens no raw one. ``application_name`` names every
    connection in ``pg_stat_activity``."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        unit_of_work: type[UnitOfWork] | None = None,
        application_name: str = "drawdown",
    ) -> None:
        self.url = url
        # libpq's form of ``url``, naming the connection: what a service's own
        # connections outside the pools (the health probe, LISTEN) connect with.
        self.conninfo = make_conninfo(libpq_url(url), application_name=application_name)
        raw_size = hot_path_connections(pool_size)
        self.pool_sizes = (pool_size - raw_size, raw_size)  # (engine, raw)
        self._unit_of_work = unit_of_work or UnitOfWork
        # Makes the outbox of each unit of work, once the service has said how (its
        # events' table, encoder and clock): ``drawdown.events.outbox.Outbox``.
        self.outboxes: Callable[[], EventRecorder] | None = None
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size - raw_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            poolclass=MeasuredQueuePool,
            connect_args={"options": SESSION_OPTIONS, "application_name": application_name},
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.connections = ConnectionPool(self.conninfo, size=raw_size)

    def unit_of_work(self) -> UnitOfWork:
        """A transaction that rolls back unless ``commit()`` is called (Cosmic Python's UoW),
        of the service's kind (with its repositories)."""
        return self.adopt(self._unit_of_work(self._sessions()))

    def adopt(self, unit: UnitOfWorkT) -> UnitOfWorkT:
        """``unit`` (made on a session of this database) with its outbox, if the service has one."""
        if self.outboxes is not None:
            unit.record_events(self.outboxes())
        return unit

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


class EventRecorder(Protocol):
    """What records a unit of work's events (``drawdown.events.outbox.Outbox``)."""

    def statements(self) -> Sequence[Statement]: ...


class UnitOfWork:
    """``async with db.unit_of_work() as uow: ...; await uow.commit()``.

    A service's subclass creates its repositories in ``bind``, once the transaction has
    begun, so that every repository of one unit runs in the same transaction; ``outbox``
    records the changes' events, written at commit (E-1)."""

    # None until the service's events are set up (``Database.outboxes``).
    outbox: Any = None

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.committed = False
        self._before_commit: list[LastStatements] = []
        self._after_commit: list[Committed] = []

    async def __aenter__(self) -> Self:
        await self.session.begin()
        await self.bind()
        return self

    async def bind(self) -> None:
        """Create the service's repositories on ``self.session`` (none here)."""

    def before_commit(self, statements: LastStatements) -> None:
        """Run what ``statements()`` returns as the transaction's last statements (the
        outbox's events, written under a lock held until COMMIT)."""
        self._before_commit.append(statements)

    def after_commit(self, committed: Committed) -> None:
        """Call ``committed()`` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(committed)

    def record_events(self, recorder: EventRecorder) -> None:
        """Record this unit's events with ``recorder`` (``uow.outbox``), written at commit."""
        self.outbox = recorder
        self.before_commit(recorder.statements)

    async def commit(self) -> None:
        last = [statement for make in self._before_commit for statement in make()]
        if last:
            await self.session.flush()
            connection = await self.session.connection()
            for statement, params in last:
                await _fetch_on_engine(connection, statement, params)
        await self.session.commit()
        self.committed = True
        for committed in self._after_commit:
            committed()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()


class PooledConnection:
    """A psycopg connection of the pool and the cursors kept open on it (a new cursor per
    statement costs more CPU than the statement's own Python work)."""

    __slots__ = ("cursors", "driver")

    def __init__(self, driver: psycopg.AsyncConnection[Any]) -> None:
        self.driver = driver
        self.cursors: list[psycopg.AsyncCursor[Any]] = []

    def cursor(self, index: int) -> psycopg.AsyncCursor[Any]:
        while len(self.cursors) <= index:
            self.cursors.append(self.driver.cursor())
        return self.cursors[index]


class ConnectionPool:
    """Up to ``size`` psycopg connections (autocommit, named-tuple rows), opened on first
    need and reused. A connection is handed out without a ping: a dead one shows on its
    first round trip, and ``Transaction`` then replaces it and sends that round trip
    again (nothing ran on it yet, so that is safe).

    Not ``psycopg_pool``: there, a call that needs a new connection while the database is
    down waits out the pool timeout while background workers retry, whereas here the
    connect error reaches the call at once (UNAVAILABLE, which callers retry); and each
    pooled connection keeps its cursors open across calls."""

    def __init__(self, conninfo: str, *, size: int) -> None:
        self._conninfo = conninfo
        self._idle: deque[PooledConnection] = deque()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def acquire(self) -> PooledConnection:
        """A connection, once a slot is free (DATABASE_BUSY after POOL_TIMEOUT_SECONDS);
        the wait and the slots in use are measured (O-4)."""
        started = time.perf_counter()
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), POOL_TIMEOUT_SECONDS)
            except TimeoutError:
                _RAW_WAIT.observe(time.perf_counter() - started)
                raise sa.exc.TimeoutError("no database connection free in time") from None
        else:
            await self._slots.acquire()
        _RAW_IN_USE.inc()
        try:
            connection = self._idle.pop() if self._idle else await self.connect()
        except BaseException:
            self._free_slot()
            raise
        _RAW_WAIT.observe(time.perf_counter() - started)
        return connection

    async def connect(self) -> PooledConnection:
        try:
            driver = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, row_factory=namedtuple_row, options=SESSION_OPTIONS
            )
        except psycopg.Error as error:
            raise sa.exc.DBAPIError.instance(None, None, error, psycopg.Error) from error
        return PooledConnection(driver)

    async def release(self, connection: PooledConnection) -> None:
        """Take the connection back: idle ones are kept, anything else is closed."""
        driver = connection.driver
        try:
            if (
                not self._closed
                and not driver.broken
                and driver.info.transaction_status == pq.TransactionStatus.IDLE
            ):
                self._idle.append(connection)
            else:
                await driver.close()
        finally:
            self._free_slot()

    def forfeit(self) -> None:
        """Give back the slot of a connection that was lost (closed, not released)."""
        self._free_slot()

    def _free_slot(self) -> None:
        _RAW_IN_USE.dec()
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop().driver.close()


class Transaction:
    """One call's pooled connection; with ``begin``, in a transaction that rolls back
    unless committed. Use as ``async with``; it yields itself.

    Round trips are what cost CPU here (each is a send, a wait on the event loop and a
    receive), so statements travel together: BEGIN with the first ones, ``fetch_many``
    sends several in one pipeline (the server still runs them one after the other, each
    with its own snapshot), and ``queue`` holds a statement back until the next round
    trip (at the latest COMMIT's), for statements whose rows are only checked or unread.
    """

    __slots__ = (
        "_after_commit",
        "_before_commit",
        "_begin_pending",
        "_committed",
        "_connection",
        "_fresh",
        "_pool",
        "_queued",
        "_transactional",
    )

    def __init__(self, pool: ConnectionPool, *, begin: bool) -> None:
        self._pool = pool
        self._transactional = begin
        self._begin_pending = begin
        self._connection: PooledConnection | None = None
        self._fresh = True
        self._committed = False
        self._queued: list[tuple[Statement, RowsCheck | None]] = []
        self._before_commit: list[LastStatements] = []
        self._after_commit: list[Committed] = []

    async def __aenter__(self) -> Self:
        self._connection = await self._pool.acquire()
        return self

    async def fetch(self, statement: str, params: Mapping[str, object] | None = None) -> list[Any]:
        """Run constant SQL; the rows as named tuples (none for a statement without rows).

        Driver errors are raised as SQLAlchemy's, as on the engine, so that the RPC layer
        maps a deadlock to ABORTED and a lost connection to UNAVAILABLE.
        """
        return (await self.fetch_many([(statement, params)]))[0]

    async def fetch_many(self, statements: Sequence[Statement]) -> list[list[Any]]:
        """Run the queued statements, then these, in order and in one round trip; the
        rows of each of these (after the queued ones' checks passed)."""
        connection = self._connection
        assert connection is not None, "use the Transaction in 'async with'"
        queued = self._queued
        sent = [statement for statement, _ in queued] + list(statements)
        try:
            if len(sent) == 1 and not self._begin_pending:
                statement, params = sent[0]
                cursor = connection.cursor(0)
                await cursor.execute(statement, params)
                rows = [await _rows_of(cursor)]
            else:
                rows = await self._pipeline(connection, sent)
        except psycopg.Error as error:
            if not (self._fresh and connection.driver.broken):
                statement, params = sent[-1]
                raise sa.exc.DBAPIError.instance(statement, params, error, psycopg.Error) from error
            # The pooled connection died while idle (a restart, an idle timeout): nothing
            # ran on it in this call, so a new connection may send the statements again.
            await self._reconnect()
            return await self.fetch_many(statements)
        self._fresh = False
        self._begin_pending = False
        self._queued = []
        for (_, check), checked in zip(queued, rows, strict=False):
            if check is not None:
                check(checked)
        return rows[len(queued) :]

    def queue(
        self, statement: str, params: Mapping[str, object] | None = None, check: RowsCheck | None = None
    ) -> None:
        """Send the statement with the next round trip (COMMIT's at the latest), before that
        trip's own statements; ``check`` then gets its rows and may raise, which the call
        that made the round trip raises."""
        assert self._transactional, "only a transaction queues statements"
        self._queued.append(((statement, params), check))

    def before_commit(self, statements: LastStatements) -> None:
        """Send what ``statements()`` returns with COMMIT, as the transaction's last
        statements (the outbox's events, written under a lock held until COMMIT)."""
        self._before_commit.append(statements)

    def after_commit(self, committed: Committed) -> None:
        """Call ``committed()`` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(committed)

    async def commit(self) -> None:
        last = [statement for make in self._before_commit for statement in make()]
        if self._begin_pending and not self._queued and not last:
            self._committed = True  # nothing was sent: nothing to commit
            return
        if any(check is not None for _, check in self._queued):
            await self.fetch_many([])  # a check may refuse what COMMIT would make final
        await self.fetch_many([*last, ("COMMIT", None)])
        self._committed = True
        for committed in self._after_commit:
            committed()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._release()

    async def _pipeline(
        self, connection: PooledConnection, statements: Sequence[Statement]
    ) -> list[list[Any]]:
        """The statements (after BEGIN if still to be sent) in psycopg's pipeline mode: one
        wait for all their results, and they stay prepared statements. (One multi-statement
        query with client-side bound parameters saves the per-statement sends, but measured
        only a few percent less CPU here and makes the server parse and plan every time.)"""
        first = len(statements)  # BEGIN goes on a cursor of its own, after the statements'
        cursors = [connection.cursor(n) for n in range(len(statements))]
        async with connection.driver.pipeline():
            if self._begin_pending:
                await connection.cursor(first).execute("BEGIN")
            for cursor, (statement, params) in zip(cursors, statements, strict=True):
                await cursor.execute(statement, params)
        return [await _rows_of(cursor) for cursor in cursors]

    async def _reconnect(self) -> None:
        self._fresh = False
        dead, self._connection = self._connection, None
        assert dead is not None
        await dead.driver.close()
        try:
            self._connection = await self._pool.connect()
        except BaseException:
            self._pool.forfeit()
            raise

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return  # released already, or lost in a failed reconnect (its slot is free)
        driver = connection.driver
        try:
            status = driver.info.transaction_status
            if (
                self._transactional
                and not self._committed
                and not driver.broken
                and status in _IN_TRANSACTION
            ):
                await driver.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the pool closes a connection that is not idle
        finally:
            await self._pool.release(connection)


_IN_TRANSACTION = (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)
_TUPLES_OK = pq.ExecStatus.TUPLES_OK


async def _rows_of(cursor: psycopg.AsyncCursor[Any]) -> list[Any]:
    """The rows of the cursor's statement, none if it returns none (its result status
    says so without building ``description``'s column objects)."""
    result = cursor.pgresult
    return await cursor.fetchall() if result is not None and result.status == _TUPLES_OK else []


async def send(
    db: AsyncConnection | Transaction, statement: str, params: Mapping[str, object] | None = None
) -> None:
    """Run a statement whose rows nobody reads, in ``db``'s transaction: a ``Transaction``
    sends it with its next round trip (so errors, a CHECK's say, show there or at COMMIT)."""
    if isinstance(db, Transaction):
        db.queue(statement, params)
    else:
        await _fetch_on_engine(db, statement, params)


async def fetch(
    db: AsyncConnection | Transaction, statement: str, params: Mapping[str, object] | None = None
) -> list[Any]:
    """Run constant SQL in ``db``'s transaction: a ``Transaction``, or the psycopg connection
    under an engine connection (so that code shared with Core paths needs no second form).
    Rows are named tuples; driver errors are raised as SQLAlchemy's."""
    if isinstance(db, Transaction):
        return await db.fetch(statement, params)
    return await _fetch_on_engine(db, statement, params)


async def fetch_many(db: AsyncConnection | Transaction, statements: Sequence[Statement]) -> list[list[Any]]:
    """``fetch`` for several statements run in order: one round trip on a ``Transaction``."""
    if isinstance(db, Transaction):
        return await db.fetch_many(statements)
    return [await _fetch_on_engine(db, statement, params) for statement, params in statements]


async def _fetch_on_engine(
    db: AsyncConnection, statement: str, params: Mapping[str, object] | None
) -> list[Any]:
    driver: psycopg.AsyncConnection = (await db.get_raw_connection()).driver_connection
    try:
        async with driver.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(statement, params)
            return await cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(statement, params, error, psycopg.Error) from error
