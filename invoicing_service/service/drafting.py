"""Drafting: a subscription period closed into a draft invoice whose credits are held
(I-10, C-13); ``new_invoice`` makes every invoice of a subscription."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from drawdown import ids
from drawdown.clock import Clock
from drawdown.errors import DomainError, Unavailable
from drawdown.events import types
from drawdown.metrics import SCHEDULER_LAG
from invoicing_service.adapters.credits import Credits
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain.invoices import BillingReason, InvoiceState, auto_finalize_at, invoice_totals
from invoicing_service.domain.periods import Period, next_period
from invoicing_service.domain.subscriptions import SubscriptionStatus
from invoicing_service.service import batches
from invoicing_service.service.allocations import for_credits, has_metered_lines, with_credits
from invoicing_service.service.batches import SET_ASIDE_RETRY, billing_error
from invoicing_service.service.changes import subscription_changed
from invoicing_service.service.rating import LinesToRate, Rating
from invoicing_service.service.units import UnitsOfWork
from invoicing_service.store.records import BillingErrorRecord, InvoiceRecord, StoredLine, SubscriptionRecord
from invoicing_service.store.unit import InvoicingUnit

log = structlog.get_logger("drawdown.invoicing.billing")

_CLOSE_LAG = SCHEDULER_LAG.labels("close_period")


@dataclass(frozen=True)
class Closed:
    """What closing one subscription's period gave: its draft, or why it was set aside."""

    draft: InvoiceRecord | None = None
    set_aside: BillingErrorRecord | None = None


class Drafting:
    """Closes subscription periods into drafts and holds their credits."""

    def __init__(self, units: UnitsOfWork, rating: Rating, credits: Credits, clock: Clock) -> None:
        self._units = units
        self._rating = rating
        self._credits = credits
        self._clock = clock

    async def close_period(self, subscription_id: str, as_of: datetime) -> Closed:
        """Close the subscription's current period if it has ended by ``as_of`` (I-10):
        its draft is created and its credits held, or, when the period cannot be billed,
        the subscription is set aside with the reason (X-6). Nothing when there was
        nothing to close."""
        async with self._units.unit_of_work() as uow:
            subscription = await uow.subscriptions.get(subscription_id, for_update=True)
            if (
                subscription.status is not SubscriptionStatus.ACTIVE
                or subscription.current_period.end > as_of
            ):
                return Closed()
            drafts, set_aside = await self.close_locked(uow, [subscription], as_of)
            await uow.commit()
        if set_aside:
            return Closed(set_aside=set_aside[subscription_id])
        return Closed(draft=await self.hold_one(drafts[0]))

    async def close_due_periods(self, now: datetime) -> int:
        """Close wall-clock subscription periods until none is due, ``CLAIM_BATCH`` at a
        time; each batch claimed with SKIP LOCKED, so replicas share the work without doing
        any twice. A subscription set aside is tried again after ``SET_ASIDE_RETRY``."""
        closed = 0
        while True:
            async with self._units.unit_of_work() as uow:
                subscriptions = await uow.subscriptions.claim_due(
                    now, batches.CLAIM_BATCH, now - SET_ASIDE_RETRY
                )
                if not subscriptions:
                    return closed
                lags = [(now - s.current_period.end).total_seconds() for s in subscriptions]
                drafts, _ = await self.close_locked(uow, subscriptions, now)
                await uow.commit()
            for lag in lags:  # O-4: how late each period was closed
                _CLOSE_LAG.observe(lag)
            await self.hold_for_drafts(drafts)
            closed += len(drafts)

    async def close_locked(
        self, uow: InvoicingUnit, subscriptions: Sequence[SubscriptionRecord], as_of: datetime
    ) -> tuple[list[InvoiceRecord], dict[str, BillingErrorRecord]]:
        """Draft each subscription's current period (I-10) and move it on to its next
        period, or cancel it if it was to end there; the subscriptions are locked. One
        whose period cannot be billed stays where it is, set aside with its reason (X-6):
        the drafts, and the billing errors by subscription id."""
        following = {
            s.id: next_period(
                s.billing_cycle_anchor,
                s.items[0].price.interval,
                s.items[0].price.interval_count,
                s.current_period,
            )
            for s in subscriptions
        }
        rated = await self._rating.rate_lines(
            uow,
            [
                LinesToRate(s, s.items, s.current_period, None if s.cancel_at_period_end else following[s.id])
                for s in subscriptions
            ],
        )
        graces = await self.grace_periods(uow, subscriptions)
        drafts: list[InvoiceRecord] = []
        changes: dict[str, dict[str, Any]] = {}
        set_aside: dict[str, BillingErrorRecord] = {}
        for subscription, result in zip(subscriptions, rated, strict=True):
            if result.error is not None:
                set_aside[subscription.id] = billing_error(result.error, self._clock.now())
                continue
            period, ends = subscription.current_period, subscription.cancel_at_period_end
            draft = new_invoice(
                subscription,
                billing_reason=BillingReason.SUBSCRIPTION_CANCEL
                if ends
                else BillingReason.SUBSCRIPTION_CYCLE,
                period=period,
                lines=result.lines,
                status=InvoiceState.DRAFT,
                now=as_of,
                auto_finalize_time=auto_finalize_at(period.end, graces[subscription.id]),
            )
            drafts.append(draft)
            change: dict[str, Any] = {
                "latest_invoice_id": draft.id,
                "update_time": as_of,
                "billing_error_reason": None,
                "billing_error_message": None,
                "billing_error_time": None,
            }
            if ends:
                change.update(status=SubscriptionStatus.CANCELED.value, cancel_time=period.end)
                canceled = replace(
                    subscription,
                    status=SubscriptionStatus.CANCELED,
                    cancel_time=period.end,
                    latest_invoice_id=draft.id,
                    update_time=as_of,
                    billing_error=None,
                )
                subscription_changed(uow, types.SUBSCRIPTION_CANCELED, canceled)
            else:
                next_one = following[subscription.id]
                change.update(current_period_start=next_one.start, current_period_end=next_one.end)
            changes[subscription.id] = change
        await uow.invoices.insert_many(drafts)
        await uow.subscriptions.update_many(changes)
        await uow.subscriptions.set_aside(set_aside)
        for draft in drafts:
            log.info(
                "invoice.drafted",
                invoice_id=draft.id,
                subscription_id=draft.subscription_id,
                period_end=draft.period.end,
            )
        for subscription_id, error in set_aside.items():
            log.warning(
                "subscription.set_aside",
                subscription_id=subscription_id,
                reason=error.reason,
                why=error.message,
            )
        return drafts, set_aside

    async def grace_period(self, uow: InvoicingUnit, subscription: SubscriptionRecord) -> timedelta:
        """The subscription's grace period, else its customer's (I-11)."""
        return (await self.grace_periods(uow, [subscription]))[subscription.id]

    async def grace_periods(
        self, uow: InvoicingUnit, subscriptions: Sequence[SubscriptionRecord]
    ) -> dict[str, timedelta]:
        """``grace_period`` of each subscription, by id, in one query."""
        inherited = {s.customer_id for s in subscriptions if s.grace_period is None}
        customers = await uow.customers.grace_periods(inherited) if inherited else {}
        return {
            s.id: s.grace_period if s.grace_period is not None else customers[s.customer_id]
            for s in subscriptions
        }

    async def hold_for_drafts(self, drafts: Sequence[InvoiceRecord]) -> list[InvoiceRecord]:
        """Hold the drafts' credits (C-13), in one call, and show them on the drafts,
        tentatively. Best effort: if credits cannot be reached the drafts stay without
        holds, and finalization computes the allocation afresh anyway. A batch that credits
        refuses is held draft by draft, so one bad draft holds up no other."""
        metered = [draft for draft in drafts if has_metered_lines(draft)]
        if not metered:
            return list(drafts)
        try:
            allocations = await self._credits.hold(
                [(for_credits(draft, draft.create_time), f"hold:{draft.id}") for draft in metered]
            )
        except Unavailable:
            log.warning("invoice.hold_failed", invoice_ids=[draft.id for draft in metered])
            return list(drafts)
        except (DomainError, PeerFailure) as error:
            if len(metered) == 1:
                raise
            log.warning("invoice.batch_hold_refused", reason=error.reason, metadata=error.metadata)
            return [await self.hold_one(draft) for draft in drafts]
        async with self._units.unit_of_work() as uow:
            statuses = await uow.invoices.lock([draft.id for draft in metered])
            # A draft is only ever changed by leaving draft status: one still a draft is
            # as this run created it.
            held = {
                draft.id: with_credits(draft, allocation, draft.update_time)
                for draft, allocation in zip(metered, allocations, strict=True)
                if statuses.get(draft.id) is InvoiceState.DRAFT
            }
            await uow.invoices.save_many(list(held.values()))
            moved_on = [draft.id for draft in metered if draft.id in statuses and draft.id not in held]
            held.update((current.id, current) for current in await uow.invoices.get_many(moved_on))
            await uow.commit()
        return [held.get(draft.id, draft) for draft in drafts]

    async def hold_one(self, draft: InvoiceRecord) -> InvoiceRecord:
        """Hold one draft's credits, best effort: a refusal is logged and the draft kept
        without holds (finalization allocates afresh)."""
        try:
            return (await self.hold_for_drafts([draft]))[0]
        except (DomainError, PeerFailure) as error:
            log.warning("invoice.hold_refused", invoice_id=draft.id, reason=error.reason)
            return draft


def new_invoice(subscription: SubscriptionRecord, **fields: Any) -> InvoiceRecord:
    """A new invoice of ``subscription``: ``build_invoice`` with its customer, currency
    and test clock."""
    return build_invoice(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        currency=subscription.currency,
        test_clock_id=subscription.test_clock_id,
        **fields,
    )


def build_invoice(
    *,
    customer_id: str,
    subscription_id: str | None,
    currency: str,
    test_clock_id: str | None,
    billing_reason: BillingReason,
    period: Period,
    lines: tuple[StoredLine, ...],
    status: InvoiceState,
    now: datetime,
    auto_finalize_time: datetime | None = None,
    finalize_time: datetime | None = None,
    credit_purchase: dict[str, Any] | None = None,
) -> InvoiceRecord:
    """Every new invoice, of a subscription or a credit purchase: its totals from its lines
    (``invoice_totals``), nothing paid or applied yet."""
    totals = invoice_totals(currency, [stored.line for stored in lines])
    return InvoiceRecord(
        id=ids.new_id(ids.INVOICE),
        customer_id=customer_id,
        subscription_id=subscription_id,
        status=status,
        billing_reason=billing_reason,
        currency=currency,
        period=period,
        lines=lines,
        subtotal=totals.subtotal.minor,
        total_credits_applied=totals.credits_total.minor,
        amount_due=totals.amount_due.minor,
        amount_paid=0,
        credit_applications=(),
        auto_finalize_time=auto_finalize_time,
        finalize_time=finalize_time,
        paid_time=None,
        void_time=None,
        uncollectible_time=None,
        credit_purchase=credit_purchase,
        test_clock_id=test_clock_id,
        create_time=now,
        update_time=now,
    )
