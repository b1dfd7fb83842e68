"""Units of work for the billing steps, and where a saga's last step runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from invoicing_service.store.unit import InvoicingUnit

# The last step of a saga, run where the deadline wants it: given the work in a unit of
# work, the deadline's result (an RPC stores its response there, with its request id).
LastStep = Callable[[InvoicingUnit], Awaitable[Any]]
Finish = Callable[[LastStep], Awaitable[Any]]


class UnitsOfWork(Protocol):
    def unit_of_work(self) -> InvoicingUnit: ...


async def run_last_step(units: UnitsOfWork, finish: Finish | None, complete: LastStep) -> Any:
    """``complete`` run by ``finish`` when given, else in a unit of work of its own,
    committed; its result."""
    if finish is not None:
        return await finish(complete)
    async with units.unit_of_work() as uow:
        result = await complete(uow)
        await uow.commit()
    return result
