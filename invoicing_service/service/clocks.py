"""Now, for a customer: the frozen time of its test clock, or the wall clock (X-3, I-16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.clock import Clock
from invoicing_service.store.customers import TestClockStore


async def now_for(session: AsyncSession, clock: Clock, test_clock_id: str | None) -> datetime:
    """ "Now" for a customer: its test clock's frozen time, or ``clock``'s (X-3, I-16)."""
    if test_clock_id is None:
        return clock.now()
    return (await TestClockStore(session).get(test_clock_id)).frozen_time
