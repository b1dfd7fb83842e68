"""Now, for a customer: the frozen time of its test clock, or the wall clock (X-3, I-16)."""

from __future__ import annotations

from datetime import datetime

from drawdown.clock import Clock
from invoicing_service.store.unit import InvoicingUnit


async def now_for(uow: InvoicingUnit, clock: Clock, test_clock_id: str | None) -> datetime:
    """ "Now" for a customer: its test clock's frozen time, or ``clock``'s (X-3, I-16)."""
    if test_clock_id is None:
        return clock.now()
    return (await uow.test_clocks.get(test_clock_id)).frozen_time
