"""Units of work for the billing steps, and where a saga's last step runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from drawdown.db.engine import UnitOfWork
from invoicing_service.store.records import InvoiceRecord

# The last step of a saga, run where the deadline wants it: given the work on a session,
# the deadline's result (an RPC stores its response there, with its request id).
LastStep = Callable[[AsyncSession], Awaitable[InvoiceRecord]]
Finish = Callable[[LastStep], Awaitable[Any]]


class UnitsOfWork(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...


class OnConnection:
    """Units of work that run one after the other on one connection (``Database``'s
    ``unit_of_work`` for one call): each is a transaction of its own, committed or rolled
    back, and the connection stays checked out between them."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(AsyncSession(bind=self.connection, expire_on_commit=False, autoflush=False))


async def run_last_step(units: UnitsOfWork, finish: Finish | None, complete: LastStep) -> Any:
    """``complete`` run by ``finish`` when given, else in a unit of work of its own,
    committed; its result."""
    if finish is not None:
        return await finish(complete)
    async with units.unit_of_work() as uow:
        result = await complete(uow.session)
        await uow.commit()
    return result
