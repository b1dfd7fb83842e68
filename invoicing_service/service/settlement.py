"""Settlement: an open invoice voided, paid or written off (I-12, I-15, C-15):

void:     open ─→ voiding ─reinstate→ void
pay a credit purchase: open ─→ paying ─create grant (request id = invoice id)→ paid
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from drawdown.clock import Clock
from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import FailedPrecondition
from drawdown.money import Money
from invoicing_service.adapters.credits import Credits
from invoicing_service.domain import reasons
from invoicing_service.domain.credit_purchases import CreditGrantRequest, CreditPurchase, grant_request
from invoicing_service.domain.invoices import InvoiceAction, InvoiceState, completed_state, started_state
from invoicing_service.service.allocations import has_metered_lines
from invoicing_service.service.clocks import now_for
from invoicing_service.service.units import Finish, UnitsOfWork, run_last_step
from invoicing_service.store.records import InvoiceRecord
from invoicing_service.store.unit import InvoicingUnit


class Settlement:
    """Voids, pays and writes off open invoices."""

    def __init__(self, units: UnitsOfWork, credits: Credits, clock: Clock) -> None:
        self._units = units
        self._credits = credits
        self._clock = clock

    async def void(
        self, invoice_id: str, *, deadline: Deadline = NO_DEADLINE, finish: Finish | None = None
    ) -> Any:
        """Void an open invoice and reinstate its credits (I-12, C-15); ``finish`` as for
        ``finalize``."""
        async with self._units.unit_of_work() as uow:
            invoice = await uow.invoices.get(invoice_id, for_update=True)
            step = started_state(invoice.status, InvoiceAction.VOID)
            if invoice.status is not step:
                now = await now_for(uow, self._clock, invoice.test_clock_id)
                invoice = replace(invoice, status=step, void_time=now, update_time=now)
                await uow.invoices.save(invoice)
            await uow.commit()
        return await self.reinstate_and_complete(invoice, deadline, finish)

    async def reinstate_and_complete(
        self, invoice: InvoiceRecord, deadline: Deadline, finish: Finish | None
    ) -> Any:
        """Reinstate a voiding invoice's credits, then set it void, ``finish`` running
        that last step (as for ``void``)."""
        reinstated: dict[str, str] = {}
        if has_metered_lines(invoice):
            assert invoice.void_time is not None
            reinstated = await self._credits.reinstate(
                invoice.id, invoice.customer_id, invoice.void_time, deadline
            )

        async def complete(uow: InvoicingUnit) -> InvoiceRecord:
            current = await uow.invoices.get(invoice.id, for_update=True)
            if current.status is not InvoiceState.VOIDING:
                return current
            voided = replace(
                current,
                status=completed_state(InvoiceState.VOIDING),
                credit_applications=tuple(
                    replace(a, reinstate_transaction_id=reinstated.get(a.grant_id, ""))
                    for a in current.credit_applications
                ),
            )
            await uow.invoices.save(voided)
            return voided

        return await run_last_step(self._units, finish, complete)

    async def pay(
        self, invoice_id: str, *, deadline: Deadline = NO_DEADLINE, finish: Finish | None = None
    ) -> Any:
        """Record an open invoice as paid (I-12); a credit purchase's grant is created once,
        under the invoice id as request id, after the intent is stored (I-15). ``finish``
        as for ``finalize``."""
        async with self._units.unit_of_work() as uow:
            invoice = await uow.invoices.get(invoice_id, for_update=True)
            step = started_state(invoice.status, InvoiceAction.PAY)
            if invoice.status is not step:
                now = await now_for(uow, self._clock, invoice.test_clock_id)
                purchase = invoice.credit_purchase
                if (
                    purchase is not None
                    and purchase.get("expire_time")
                    and _at(purchase["expire_time"]) <= now
                ):
                    raise FailedPrecondition(
                        f"credit purchase {invoice_id} expired at {purchase['expire_time']}; void it instead",
                        reason=reasons.CREDIT_PURCHASE_EXPIRED,
                    )
                invoice = paying(invoice, now)
                await uow.invoices.save(invoice)
            await uow.commit()
        try:
            return await self.grant_and_complete(invoice, deadline, finish)
        except FailedPrecondition:
            await self._back_to_open(invoice_id)
            raise

    async def grant_and_complete(
        self, invoice: InvoiceRecord, deadline: Deadline, finish: Finish | None
    ) -> Any:
        """Create a paying credit purchase's grant, then set the invoice paid, ``finish``
        running that last step (as for ``pay``)."""
        grant_id = ""
        if invoice.credit_purchase is not None:
            grant_id = await self._credits.create_paid_grant(_purchased_grant(invoice), deadline)

        async def complete(uow: InvoicingUnit) -> InvoiceRecord:
            current = await uow.invoices.get(invoice.id, for_update=True)
            if current.status is not InvoiceState.PAYING:
                return current
            purchase = (
                None
                if current.credit_purchase is None
                else {**current.credit_purchase, "credit_grant_id": grant_id}
            )
            paid = replace(
                current,
                status=completed_state(InvoiceState.PAYING),
                amount_paid=current.amount_due,
                credit_purchase=purchase,
            )
            await uow.invoices.save(paid)
            return paid

        return await run_last_step(self._units, finish, complete)

    async def _back_to_open(self, invoice_id: str) -> None:
        async with self._units.unit_of_work() as uow:
            invoice = await uow.invoices.get(invoice_id, for_update=True)
            if invoice.status is InvoiceState.PAYING:
                await uow.invoices.save(replace(invoice, status=InvoiceState.OPEN, paid_time=None))
            await uow.commit()

    async def mark_uncollectible(self, uow: InvoicingUnit, invoice_id: str) -> InvoiceRecord:
        """Write an open invoice off; its credits stay applied (I-12, C-15)."""
        invoice = await uow.invoices.get(invoice_id, for_update=True)
        state = started_state(invoice.status, InvoiceAction.MARK_UNCOLLECTIBLE)
        now = await now_for(uow, self._clock, invoice.test_clock_id)
        marked = replace(invoice, status=state, uncollectible_time=now, update_time=now)
        await uow.invoices.save(marked)
        return marked


def paying(invoice: InvoiceRecord, now: datetime) -> InvoiceRecord:
    """The first step of paying an open invoice, paid at ``now`` (I-12)."""
    return replace(
        invoice, status=started_state(invoice.status, InvoiceAction.PAY), paid_time=now, update_time=now
    )


def _at(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def _purchased_grant(invoice: InvoiceRecord) -> CreditGrantRequest:
    """The paid grant a credit purchase invoice creates, once, under its invoice id (I-15)."""
    purchase = invoice.credit_purchase
    assert purchase is not None and invoice.paid_time is not None
    bought = CreditPurchase(
        customer_id=invoice.customer_id,
        amount=Money(invoice.currency, invoice.subtotal),
        name=str(purchase["name"]),
        priority=int(purchase["priority"]),
        applicable_price_ids=tuple(purchase["price_ids"]),
        expires_at=_at(purchase["expire_time"]) if purchase.get("expire_time") else None,
        metadata=purchase["metadata"],
    )
    return grant_request(bought, invoice_id=invoice.id, paid_at=invoice.paid_time)
