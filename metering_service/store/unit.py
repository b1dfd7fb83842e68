"""Metering's unit of work: one transaction and the repositories bound to it."""

from __future__ import annotations

from drawdown.db.engine import UnitOfWork
from metering_service.store.meters import MeterRepository
from metering_service.store.test_clocks import TestClockRepository


class MeteringUnit(UnitOfWork):
    """``async with database.unit_of_work() as uow``: meters and test clocks, all in the
    unit's transaction."""

    meters: MeterRepository
    test_clocks: TestClockRepository

    async def bind(self) -> None:
        connection = await self.session.connection()
        self.meters = MeterRepository(self.session, connection)
        self.test_clocks = TestClockRepository(connection)
