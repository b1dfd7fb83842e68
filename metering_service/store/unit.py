"""Metering's unit of work: one transaction and the repositories bound to it."""

from __future__ import annotations

import sqlalchemy as sa

from drawdown.db.engine import UnitOfWork
from metering_service.store.events import EventRepository
from metering_service.store.meters import MeterRepository
from metering_service.store.summaries import SummaryRepository
from metering_service.store.test_clocks import TestClockRepository


class MeteringUnit(UnitOfWork):
    """``async with database.unit_of_work() as uow``: meters, events, summaries and test
    clocks, all in the unit's transaction."""

    meters: MeterRepository
    events: EventRepository
    summaries: SummaryRepository
    test_clocks: TestClockRepository

    async def bind(self) -> None:
        connection = await self.session.connection()
        self.meters = MeterRepository(self.session, connection)
        self.events = EventRepository(self.session, connection)
        self.summaries = SummaryRepository(self.session)
        self.test_clocks = TestClockRepository(connection)

    async def read_from_one_snapshot(self) -> None:
        """Read every later statement from one snapshot, read only (a batch of summaries is
        consistent across its queries, M-20); before the transaction's first statement."""
        await self.session.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
