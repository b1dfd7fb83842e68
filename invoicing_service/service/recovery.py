"""Recovery: sagas a crash or a peer's outage left mid-way, completed (I-11, I-12)."""

from __future__ import annotations

from datetime import timedelta

import structlog

from drawdown.clock import Clock
from drawdown.deadlines import NO_DEADLINE
from drawdown.errors import DomainError
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain.invoices import InvoiceState
from invoicing_service.service.batches import SET_ASIDE_RETRY, set_aside_invoices_in, set_aside_worthy
from invoicing_service.service.finalization import Finalization
from invoicing_service.service.settlement import Settlement
from invoicing_service.service.units import LastStep, UnitsOfWork
from invoicing_service.store.records import InvoiceRecord

log = structlog.get_logger("drawdown.invoicing.billing")


class Recovery:
    """Completes the sagas left in flight."""

    def __init__(
        self, units: UnitsOfWork, finalization: Finalization, settlement: Settlement, clock: Clock
    ) -> None:
        self._units = units
        self._finalization = finalization
        self._settlement = settlement
        self._clock = clock

    async def recover_in_flight(self, older_than: timedelta) -> int:
        """Complete every saga untouched for ``older_than`` (a crash, or a peer
        that was down): finalizing → apply, voiding → reinstate, paying → grant. Each
        outbound call is idempotent per invoice, so completing twice changes nothing. An
        invoice a peer refuses is set aside with the reason (X-6) and tried again after
        ``SET_ASIDE_RETRY``; one whose peer is down waits for the next sweep."""
        recovered = 0
        failed: list[str] = []
        while True:
            async with self._units.unit_of_work() as uow:
                claimed = await uow.invoices.claim_in_flight(
                    older_than, failed, self._clock.now() - SET_ASIDE_RETRY
                )
                if claimed is None:
                    return recovered
                invoice = await uow.invoices.get(claimed)

                async def here(complete: LastStep) -> InvoiceRecord:
                    return await complete(uow)

                try:
                    if invoice.status is InvoiceState.FINALIZING:
                        await self._finalization.apply_and_complete(invoice, NO_DEADLINE, here)
                    elif invoice.status is InvoiceState.VOIDING:
                        await self._settlement.reinstate_and_complete(invoice, NO_DEADLINE, here)
                    else:
                        await self._settlement.grant_and_complete(invoice, NO_DEADLINE, here)
                except (DomainError, PeerFailure) as error:
                    log.warning("invoice.recovery_failed", invoice_id=invoice.id, reason=error.reason)
                    failed.append(invoice.id)
                    if set_aside_worthy(error):
                        await set_aside_invoices_in(uow, {invoice.id: error}, self._clock.now())
                        await uow.commit()
                    continue
                await uow.commit()
            recovered += 1
