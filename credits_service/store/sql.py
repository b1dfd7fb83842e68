"""What every credits repository shares: the transaction handle it is constructed on.

A repository is constructed on one handle (``Db``) and every method runs in that
handle's transaction. In a unit of work the handle is its ``AsyncConnection``
(``await session.connection()``): Core statements on the connection skip the ORM
session's per-statement overhead. The hot paths (balance summary, preview, hold, apply
and their batches) go further: they send constant SQL with bound parameters (prepared
by psycopg after a few uses) and run on a raw pooled ``Transaction``
(``Database.transaction``/``reading``), because building, compiling and executing Core
statements, checking out and pinging engine connections and hopping through
SQLAlchemy's greenlet cost more CPU per call than the statements, and the server's
throughput is bound by that CPU. Those methods run on either handle; the others, which
execute Core statements, need a connection. On a ``Transaction`` the writes whose rows
nobody reads are queued (``send``) and travel with the next round trip, COMMIT's at the
latest; reads that follow see them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from drawdown.db.engine import Transaction

# A unit of work's (or an engine read's) connection, or a raw ``Transaction``.
Db = AsyncConnection | Transaction


class Repository:
    """A credits repository on the handle ``db``, given once."""

    __slots__ = ("_db",)

    def __init__(self, db: Db) -> None:
        self._db = db
