"""Invoices through their life: drafted at period end, finalized, voided, paid (I-10..I-15).

The same steps serve the RPCs, the wall-clock scheduler and test-clock advances (I-16);
only "now" differs. Each lifecycle step has its module: rating, drafting, finalization,
settlement and recovery. Steps that call another service are a saga whose every state is
stored before the call, so a crash or an UNAVAILABLE at any point leaves an invoice that
a retry or the recovery sweep completes, and credits move once per invoice:

  finalize: draft ─(lines recomputed from re-read usage)→ finalizing ─apply→ open | paid
  void:     open ─→ voiding ─reinstate→ void
  pay a credit purchase: open ─→ paying ─create grant (request id = invoice id)→ paid

``finalizing`` shows as DRAFT and ``voiding`` / ``paying`` as OPEN on the API; the states,
what each shows and where each action leads are ``domain.invoices.InvoiceState``'s.

One bad subscription or invoice never holds up the others (X-6): a period whose lines
cannot be rated (an amount beyond what a line holds, usage metering refuses to sum) or an
invoice credits refuses is set aside with its reason (``billing_error``) and logged; the
rest of its batch is billed, and the scheduler tries it again an hour later.

An RPC that runs several units of work (a saga step commits before its outbound call)
runs them all on one pooled connection, one after the other (``one_connection``): it
never waits for a second connection while it holds one (X-7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from drawdown.clock import Clock
from drawdown.db.engine import Database
from invoicing_service.adapters.downstream import Downstream
from invoicing_service.service.drafting import Drafting
from invoicing_service.service.finalization import Finalization
from invoicing_service.service.rating import Rating
from invoicing_service.service.recovery import Recovery
from invoicing_service.service.settlement import Settlement
from invoicing_service.service.units import UnitsOfWork
from invoicing_service.store.records import InvoiceRecord
from invoicing_service.store.unit import on_one_connection


class Billing:
    """The lifecycle steps of invoices on one database (or one connection), one set of
    channels to metering and credits, and one clock."""

    def __init__(self, database: Database | UnitsOfWork, downstream: Downstream, clock: Clock) -> None:
        self.database = database
        self.downstream = downstream
        self.clock = clock
        self.rating = Rating(downstream.metering)
        self.drafting = Drafting(database, self.rating, downstream.credits, clock)
        self.finalization = Finalization(database, self.rating, downstream.credits, clock)
        self.settlement = Settlement(database, downstream.credits, clock)
        self.recovery = Recovery(database, self.finalization, self.settlement, clock)

    @asynccontextmanager
    async def one_connection(self) -> AsyncIterator[Billing]:
        """This billing core with every unit of work on one pooled connection, checked out
        for the whole block (X-7): a call that needs several units of work in turn never
        holds one connection while it waits for another."""
        assert isinstance(self.database, Database), "already on one connection"
        async with on_one_connection(self.database) as connection:
            yield Billing(connection, self.downstream, self.clock)

    async def get(self, invoice_id: str) -> InvoiceRecord:
        async with self.database.unit_of_work() as uow:
            return await uow.invoices.get(invoice_id)

    async def list(self, **filters: Any) -> list[InvoiceRecord]:
        async with self.database.unit_of_work() as uow:
            return await uow.invoices.list(**filters)
