"""The credits unit of work and the repositories it hands out, one per aggregate.

Each repository module owns one part of the schema and its SQL: ``customers`` (the lock
every money movement takes first, and test clocks), ``grants`` (grant rows and states),
``balances`` (the balance summary), ``ledger`` (postings and transactions), ``holds``
(holds and invoice applications), ``reservations`` (reservations of credits, R-1) and ``draws`` (what a hold, an application or a preview
reads, in one round trip). ``sql`` has the handle they are constructed on.

A use case takes ``CreditRepositories``: a ``CreditsUnit`` (``Mutations.run``), the
repositories on a raw pooled ``Transaction`` (``Mutations.run_raw``/``run_batch``, the
hot paths: ``CreditRepositories.recording``), or those of a read outside a unit of work
(``reading``, ``RawReading``). Those of a change have an ``outbox`` for its events (E-1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType

from credits_service.store.balances import BalanceRepository
from credits_service.store.customers import CustomerRepository
from credits_service.store.draws import DrawRepository
from credits_service.store.grants import GrantRepository
from credits_service.store.holds import HoldRepository
from credits_service.store.ledger import LedgerRepository
from credits_service.store.reservations import ReservationRepository
from credits_service.store.sql import Db
from drawdown.db.engine import Committed, Database, Transaction, UnitOfWork
from drawdown.events.outbox import Outbox


class CreditRepositories:
    """The credits repositories, all on the one handle ``db`` (so in one transaction), and,
    for a change, the ``outbox`` its events are recorded in (E-1)."""

    __slots__ = (
        "after_commit",
        "balances",
        "customers",
        "draws",
        "grants",
        "holds",
        "ledger",
        "outbox",
        "reservations",
    )

    outbox: Outbox
    # Calls a function once the change has committed (``UnitOfWork.after_commit``).
    after_commit: Callable[[Committed], None]

    def __init__(self, db: Db) -> None:
        self.customers = CustomerRepository(db)
        self.grants = GrantRepository(db)
        self.balances = BalanceRepository(db)
        self.ledger = LedgerRepository(db)
        self.holds = HoldRepository(db)
        self.draws = DrawRepository(db, self.customers)
        self.reservations = ReservationRepository(db)

    @classmethod
    def recording(cls, tx: Transaction, database: Database) -> CreditRepositories:
        """The repositories on a hot path's raw transaction, with an outbox (one small
        object; ``database.outboxes``) whose events ``tx`` writes just before it commits."""
        repositories = cls(tx)
        repositories.outbox = database.outboxes()
        tx.before_commit(repositories.outbox.statements)
        repositories.after_commit = tx.after_commit
        return repositories


class CreditsUnit(UnitOfWork, CreditRepositories):
    """The credits service's unit of work: its repositories on the unit's connection."""

    async def bind(self) -> None:
        CreditRepositories.__init__(self, await self.session.connection())


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[CreditRepositories]:
    """The repositories on an engine connection, for reads outside a unit of work.
    Autocommit: each read is one statement (or needs no snapshot across statements), so
    BEGIN and ROLLBACK round trips would only add latency."""
    async with database.engine.connect() as connection:
        yield CreditRepositories(await connection.execution_options(isolation_level="AUTOCOMMIT"))


class RawReading:
    """``async with RawReading(database) as uow``: the repositories on a raw pooled
    connection in autocommit (``Database.reading``), for the hot reads, which send only
    constant SQL. A class, not a generator: it costs the hot path one small object."""

    __slots__ = ("_connection",)

    def __init__(self, database: Database) -> None:
        self._connection = database.reading()

    async def __aenter__(self) -> CreditRepositories:
        return CreditRepositories(await self._connection.__aenter__())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._connection.__aexit__(exc_type, exc, tb)
