"""The test clocks repository (I-18): metering's two clock tables, through the shared SQL of
``drawdown.db.test_clocks`` (``schema.test_clocks``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from metering_service.store.schema import test_clocks


class TestClockRepository:
    """Test clocks and their customers, on one unit of work's connection."""

    __test__ = False  # a repository, not a test class
    __slots__ = ("_connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def clock_times(self, customer_ids: Collection[str]) -> dict[str, datetime]:
        """The clock time of each of these customers that lives on a test clock."""
        return await test_clocks.clock_times(self._connection, customer_ids)

    async def set_time(self, clock_id: str, frozen_time: datetime, now: datetime) -> datetime:
        """Record the clock at ``frozen_time``, or move it there if later (never back); its
        time as stored."""
        return await test_clocks.set_time(self._connection, clock_id, frozen_time, now)

    async def attach(self, clock_id: str, customer_ids: Sequence[str], now: datetime) -> dict[str, str]:
        """Attach the customers that live on no clock to ``clock_id``; those that live on
        another clock, with it (nothing is moved)."""
        return await test_clocks.attach(self._connection, clock_id, customer_ids, now)

    async def delete(self, clock_id: str) -> None:
        """Forget the clock; its customers return to the wall clock."""
        await test_clocks.delete(self._connection, clock_id)
