"""Finalization: a draft repriced from usage as it is now, its credits applied once,
then open or paid (I-11, C-13, C-14):

  draft ─(lines recomputed from re-read usage)→ finalizing ─apply→ open | paid
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from drawdown.clock import Clock
from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import DomainError, Unavailable
from drawdown.metrics import INVOICES_FINALIZED, SCHEDULER_LAG
from drawdown.money import Money
from invoicing_service.adapters.credits import CreditForLine, Credits, InvoiceForCredits
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain.invoices import (
    InvoiceAction,
    InvoiceState,
    LineKind,
    completed_state,
    invoice_totals,
    started_state,
)
from invoicing_service.service import batches
from invoicing_service.service.allocations import (
    apply_request_id,
    for_credits,
    has_metered_lines,
    with_credits,
)
from invoicing_service.service.batches import (
    SET_ASIDE_RETRY,
    set_aside_invoices_in,
    set_aside_worthy,
)
from invoicing_service.service.clocks import now_for
from invoicing_service.service.rating import LinesToRate, Rated, Rating
from invoicing_service.service.units import Finish, UnitsOfWork, run_last_step
from invoicing_service.store.records import InvoiceRecord, StoredLine
from invoicing_service.store.unit import InvoicingUnit

log = structlog.get_logger("drawdown.invoicing.billing")


class Finalization:
    """Finalizes drafts: on request, when their grace period is over, as a test clock
    passes their time."""

    def __init__(self, units: UnitsOfWork, rating: Rating, credits: Credits, clock: Clock) -> None:
        self._units = units
        self._rating = rating
        self._credits = credits
        self._clock = clock

    async def finalize(
        self,
        invoice_id: str,
        *,
        as_of: datetime | None = None,
        deadline: Deadline = NO_DEADLINE,
        finish: Finish | None = None,
    ) -> Any:
        """Finalize a draft (I-11): re-read usage and reprice (stored as ``finalizing``),
        apply credits once (C-13, C-14), then store the allocation and set open or paid.

        ``finish`` runs the last step (an RPC's, so that the transition and the request id
        commit together) and gives the result; without it the step commits on its own and
        the finalized invoice is returned. Lines that cannot be billed raise their error
        (FailedPrecondition LINE_AMOUNT_TOO_LARGE ...) and leave the draft as it was.
        """
        async with self._units.unit_of_work() as uow:
            invoice = await uow.invoices.get(invoice_id, for_update=True)
            prepared, set_aside = await self._prepare_locked(uow, [invoice], as_of, deadline)
            if set_aside:
                raise set_aside[invoice.id]
            await uow.commit()
        return await self.apply_and_complete(prepared[0], deadline, finish)

    async def finalize_due_drafts(self, now: datetime) -> int:
        """Finalize wall-clock drafts past their grace period (I-11), ``CLAIM_BATCH`` at a
        time: usage re-read in one batch, credits applied in one batch. A draft whose lines
        cannot be billed is set aside with its reason (X-6) and tried again after
        ``SET_ASIDE_RETRY``; the others finalize."""
        finalized = 0
        while True:
            async with self._units.unit_of_work() as uow:
                drafts = await uow.invoices.claim_due_drafts(now, batches.CLAIM_BATCH, now - SET_ASIDE_RETRY)
                if not drafts:
                    return finalized
                prepared, set_aside = await self._prepare_locked(uow, drafts, now, NO_DEADLINE)
                await set_aside_invoices_in(uow, set_aside, self._clock.now())
                await uow.commit()
            for draft in drafts:  # O-4: how late each draft's finalization began
                assert draft.auto_finalize_time is not None
                _FINALIZE_LAG.observe((now - draft.auto_finalize_time).total_seconds())
            finalized += await self._apply_and_complete_many(prepared)

    async def set_aside_invoices(self, errors: Mapping[str, DomainError | PeerFailure]) -> None:
        """Set invoices aside (by id) with the reason they could not be finalized (X-6)."""
        async with self._units.unit_of_work() as uow:
            await set_aside_invoices_in(uow, errors, self._clock.now())
            await uow.commit()

    async def _prepare_locked(
        self,
        uow: InvoicingUnit,
        invoices: Sequence[InvoiceRecord],
        as_of: datetime | None,
        deadline: Deadline,
    ) -> tuple[list[InvoiceRecord], dict[str, DomainError | PeerFailure]]:
        """Store each locked draft as ``finalizing``, repriced from usage as it is now
        (I-11); one that is finalizing already is left as it is. A draft whose lines
        cannot be rated is left a draft: the prepared invoices, and the errors of those
        left out by invoice id."""
        for invoice in invoices:
            started_state(invoice.status, InvoiceAction.FINALIZE)  # refuses all but drafts and their retries
        drafts = [invoice for invoice in invoices if invoice.status is InvoiceState.DRAFT]
        metered = [d for d in drafts if d.subscription_id is not None and has_metered_lines(d)]
        fresh: dict[str, tuple[StoredLine, ...]] = {}
        errors: dict[str, DomainError | PeerFailure] = {}
        for draft, rated in zip(metered, await self._reread_usage(uow, metered, deadline), strict=True):
            if rated.error is not None:
                errors[draft.id] = rated.error
            else:
                fresh[draft.id] = rated.lines
        prepared: dict[str, InvoiceRecord] = {}
        for draft in drafts:
            if draft.id in errors:
                continue
            at = as_of or await now_for(uow, self._clock, draft.test_clock_id)
            lines = fresh.get(draft.id, draft.lines)
            totals = invoice_totals(draft.currency, [stored.line for stored in lines])
            prepared[draft.id] = replace(
                draft,
                status=InvoiceState.FINALIZING,
                lines=tuple(replace(stored, credits=()) for stored in lines),
                subtotal=totals.subtotal.minor,
                total_credits_applied=totals.credits_total.minor,
                amount_due=totals.amount_due.minor,
                credit_applications=(),
                finalize_time=at,
                update_time=at,
                billing_error=None,
            )
        await uow.invoices.save_many(list(prepared.values()))
        return [prepared.get(invoice.id, invoice) for invoice in invoices if invoice.id not in errors], errors

    async def _reread_usage(
        self, uow: InvoicingUnit, invoices: Sequence[InvoiceRecord], deadline: Deadline
    ) -> list[Rated]:
        """Each draft's metered lines recomputed from usage as it is now: late usage
        reported in the grace period counts (I-11). Licensed lines stay as drafted."""
        if not invoices:
            return []
        subscriptions = await uow.subscriptions.get_many(i.subscription_id or "" for i in invoices)
        jobs = []
        for invoice in invoices:
            subscription = subscriptions[invoice.subscription_id or ""]
            metered = [s.line for s in invoice.lines if s.line.kind is LineKind.METERED]
            item_ids = {line.subscription_item_id for line in metered}
            items = [item for item in subscription.items if item.id in item_ids]
            jobs.append(LinesToRate(subscription, items, invoice.period, None, [line.id for line in metered]))
        rated = await self._rating.rate_lines(uow, jobs, deadline)
        repriced = []
        for invoice, result in zip(invoices, rated, strict=True):
            if result.error is not None:
                repriced.append(result)
                continue
            fresh = iter(result.lines)
            repriced.append(
                Rated(tuple(next(fresh) if s.line.kind is LineKind.METERED else s for s in invoice.lines))
            )
        return repriced

    async def apply_and_complete(
        self, invoice: InvoiceRecord, deadline: Deadline, finish: Finish | None
    ) -> Any:
        """Apply a finalizing invoice's credits, then set it open or paid, ``finish``
        running that last step (as for ``finalize``)."""
        allocation: list[CreditForLine] = []
        if has_metered_lines(invoice):
            (allocation,) = await self._credits.apply([_application(invoice)], deadline)

        async def complete(uow: InvoicingUnit) -> InvoiceRecord:
            (finalized,) = await self._complete_finalizations(uow, [(invoice, allocation)])
            return finalized

        return await run_last_step(self._units, finish, complete)

    async def _apply_and_complete_many(self, invoices: Sequence[InvoiceRecord]) -> int:
        """Apply credits to finalizing invoices in one batch and complete them; how many
        were completed. If credits is down they stay finalizing (the recovery sweep
        completes them); if it refuses the batch, each is applied alone, so one bad
        invoice holds up no other, and one credits refuses is set aside (X-6)."""
        allocations: list[tuple[InvoiceRecord, Sequence[CreditForLine]]] = [
            (invoice, []) for invoice in invoices if not has_metered_lines(invoice)
        ]
        metered = [invoice for invoice in invoices if has_metered_lines(invoice)]
        down: Unavailable | None = None
        try:
            if metered:
                applied = await self._credits.apply(
                    [_application(invoice) for invoice in metered], NO_DEADLINE
                )
                allocations += zip(metered, applied, strict=True)
        except Unavailable as error:
            down = error
        except (DomainError, PeerFailure) as error:
            log.warning("invoice.batch_apply_refused", reason=error.reason, metadata=error.metadata)
            completed = await self._complete_many(allocations)
            if len(metered) == 1:
                await self.set_aside_invoices({metered[0].id: error})
                return completed
            return completed + sum([await self._apply_alone(invoice) for invoice in metered])
        completed = await self._complete_many(allocations)
        if down is not None:
            raise down
        return completed

    async def _complete_many(
        self, allocations: Sequence[tuple[InvoiceRecord, Sequence[CreditForLine]]]
    ) -> int:
        if allocations:
            async with self._units.unit_of_work() as uow:
                await self._complete_finalizations(uow, allocations)
                await uow.commit()
        return len(allocations)

    async def _apply_alone(self, invoice: InvoiceRecord) -> int:
        try:
            await self.apply_and_complete(invoice, NO_DEADLINE, None)
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error):
                raise
            await self.set_aside_invoices({invoice.id: error})
            return 0
        return 1

    async def _complete_finalizations(
        self, uow: InvoicingUnit, allocations: Sequence[tuple[InvoiceRecord, Sequence[CreditForLine]]]
    ) -> list[InvoiceRecord]:
        """Store each finalizing invoice's posted allocation and set it open or paid; the
        invoices as they now are. A finalizing invoice changes only when it is completed,
        so one still finalizing is as given; one another worker completed is re-read."""
        statuses = await uow.invoices.lock([invoice.id for invoice, _ in allocations])
        done_elsewhere = [
            invoice.id
            for invoice, _ in allocations
            if statuses.get(invoice.id) is not InvoiceState.FINALIZING
        ]
        invoices = await uow.invoices.get_many(done_elsewhere)
        completed = []
        for invoice, allocation in allocations:
            if statuses.get(invoice.id) is not InvoiceState.FINALIZING:
                continue
            assert invoice.finalize_time is not None
            credited = with_credits(invoice, allocation, invoice.finalize_time)
            state = completed_state(
                InvoiceState.FINALIZING, amount_due=Money(invoice.currency, credited.amount_due)
            )
            completed.append(
                replace(
                    credited,
                    status=state,
                    auto_finalize_time=None,
                    paid_time=invoice.finalize_time if state is InvoiceState.PAID else None,
                    billing_error=None,
                )
            )
        invoices.extend(completed)
        await uow.invoices.save_many(completed)
        for finalized in completed:
            log.info(
                "invoice.finalized",
                invoice_id=finalized.id,
                status=finalized.status.value,
                amount_due=finalized.amount_due,
            )
        if completed:
            uow.after_commit(lambda: _count_finalized(completed))
        return invoices


_FINALIZE_LAG = SCHEDULER_LAG.labels("finalize")


def _count_finalized(invoices: Sequence[InvoiceRecord]) -> None:
    """O-4: invoices finalized, by the status they reached (open or paid)."""
    for invoice in invoices:
        INVOICES_FINALIZED.labels(invoice.status.value).inc()


def _application(invoice: InvoiceRecord) -> tuple[InvoiceForCredits, str]:
    """A finalizing invoice as credits applies it, with its request id."""
    assert invoice.finalize_time is not None
    return for_credits(invoice, invoice.finalize_time), apply_request_id(invoice.id)
