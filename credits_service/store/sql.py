"""What every credits store module shares: the handle its methods run on, and autocommit reads.

Methods take the unit of work's ``AsyncConnection`` (``await session.connection()``):
Core statements on the connection skip the ORM session's per-statement overhead. The hot
paths (balance summary, preview, hold, apply and their batches) go further: they send
constant SQL with bound parameters (prepared by psycopg after a few uses) and run on a
raw pooled ``Transaction`` (``Database.transaction``/``reading``), because building,
compiling and executing Core statements, checking out and pinging engine connections and
hopping through SQLAlchemy's greenlet cost more CPU per call than the statements, and
the server's throughput is bound by that CPU. Those methods accept either (``Db``).
On a ``Transaction`` the writes whose rows nobody reads are queued (``send``) and travel
with the next round trip, COMMIT's at the latest; reads that follow see them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from drawdown.db.engine import Database, Transaction

# Store methods run on a unit of work's connection or on a raw ``Transaction`` alike.
Db = AsyncConnection | Transaction


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection for reads outside a unit of work. Autocommit: each read is one
    statement (or needs no snapshot across statements), so BEGIN and ROLLBACK round trips
    would only add latency to the hot balance reads."""
    async with database.engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")
