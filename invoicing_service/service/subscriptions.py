"""Subscriptions: creation with its advance invoice, cancellation, previews (I-3, I-10, I-14)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from drawdown import ids
from drawdown.deadlines import Deadline
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.events import types
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.invoices import (
    BillingReason,
    InvoiceAction,
    InvoiceState,
    auto_finalize_at,
    completed_state,
    started_state,
)
from invoicing_service.domain.periods import anchor_at, next_period, usage_so_far
from invoicing_service.domain.prices import UsageType
from invoicing_service.domain.subscriptions import (
    CancellationMode,
    SubscriptionItem,
    SubscriptionStatus,
    first_period,
    invoice_at_creation,
    plan_cancellation,
    validate_items,
)
from invoicing_service.service.allocations import for_credits_preview, has_metered_lines, with_credits
from invoicing_service.service.billing import Billing
from invoicing_service.service.changes import subscription_changed
from invoicing_service.service.clocks import now_for
from invoicing_service.service.customers import check_clock_at_rest, grace_period_setting
from invoicing_service.service.drafting import new_invoice
from invoicing_service.service.rating import LinesToRate
from invoicing_service.store.records import InvoiceRecord, SubscriptionRecord
from invoicing_service.store.unit import InvoicingUnit


@dataclass(frozen=True)
class NewItem:
    price_id: str
    quantity: int | None


class SubscriptionUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def _customer_clock(self, uow: InvoicingUnit, test_clock_id: str | None) -> None:
        if test_clock_id is not None:
            check_clock_at_rest(await uow.test_clocks.get(test_clock_id))

    async def create(
        self,
        uow: InvoicingUnit,
        customer_id: str,
        new_items: Sequence[NewItem],
        grace_period: timedelta | None,
        deadline: Deadline,
    ) -> tuple[SubscriptionRecord, InvoiceRecord | None]:
        """An active subscription whose first period starts now (I-3). Licensed items are
        invoiced for it at once; a metered-only subscription gets no invoice (I-10)."""
        customer = await uow.customers.get(customer_id)
        await self._customer_clock(uow, customer.test_clock_id)
        items = []
        for index, new in enumerate(new_items):
            record = await uow.catalog.get_price(new.price_id, field=f"subscription.items[{index}].price_id")
            if not record.active:
                raise FailedPrecondition(
                    f"price {record.id} is inactive",
                    reason=reasons.PRICE_INACTIVE,
                    metadata={"price_id": record.id},
                )
            quantity = new.quantity
            if record.price.usage_type is UsageType.LICENSED and quantity is None:
                quantity = 1
            items.append(
                SubscriptionItem(ids.new_id(ids.SUBSCRIPTION_ITEM), record.id, record.price, quantity)
            )
        try:
            validate_items(items)
        except InvalidArgument as error:
            violation = error.field_violations[0]
            raise InvalidArgument.for_field(
                f"subscription.{violation.field}", violation.description, reason=error.reason
            ) from None
        grace = (
            None
            if grace_period is None
            else grace_period_setting(grace_period, "subscription.invoice_settings.grace_period")
        )
        for item in items:
            if item.price.usage_type is UsageType.METERED:
                await self._billing.downstream.metering.check_meter_active(
                    item.price.meter_id or "", deadline
                )
        now = await now_for(uow, self._billing.clock, customer.test_clock_id)
        anchor = anchor_at(now)
        price = items[0].price
        period = first_period(anchor, price.interval, price.interval_count)
        subscription = SubscriptionRecord(
            id=ids.new_id(ids.SUBSCRIPTION),
            customer_id=customer_id,
            items=tuple(items),
            currency=price.currency,
            billing_cycle_anchor=anchor,
            current_period=period,
            status=SubscriptionStatus.ACTIVE,
            cancel_at_period_end=False,
            cancel_time=None,
            grace_period=grace,
            latest_invoice_id=None,
            test_clock_id=customer.test_clock_id,
            create_time=now,
            update_time=now,
        )
        await uow.subscriptions.insert(subscription)
        if not invoice_at_creation(items):
            subscription_changed(uow, types.SUBSCRIPTION_CREATED, subscription)
            return subscription, None
        lines = await self._billing.rating.subscription_lines(
            uow, subscription, items, usage_period=None, advance_period=period, deadline=deadline
        )
        invoice = new_invoice(
            subscription,
            billing_reason=BillingReason.SUBSCRIPTION_CREATE,
            period=period,
            lines=lines,
            status=InvoiceState.DRAFT,
            now=now,
        )
        # Licensed lines only, which credits never pay: finalized at once, with no call between.
        status = completed_state(
            started_state(invoice.status, InvoiceAction.FINALIZE),
            amount_due=Money(invoice.currency, invoice.amount_due),
        )
        invoice = replace(
            invoice, status=status, finalize_time=now, paid_time=now if status is InvoiceState.PAID else None
        )
        await uow.invoices.insert(invoice)
        await uow.subscriptions.update(subscription.id, latest_invoice_id=invoice.id)
        created = replace(subscription, latest_invoice_id=invoice.id)
        subscription_changed(uow, types.SUBSCRIPTION_CREATED, created)
        return created, invoice

    async def get(self, subscription_id: str) -> SubscriptionRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.subscriptions.get(subscription_id)

    async def list(self, **filters: Any) -> list[SubscriptionRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.subscriptions.list(**filters)

    async def cancel(
        self, uow: InvoicingUnit, subscription_id: str, at_period_end: bool, deadline: Deadline
    ) -> tuple[SubscriptionRecord, InvoiceRecord | None]:
        """Cancel now, with a final draft for the usage so far, or at period end (I-3)."""
        subscription = await uow.subscriptions.get(subscription_id, for_update=True)
        await self._customer_clock(uow, subscription.test_clock_id)
        now = await now_for(uow, self._billing.clock, subscription.test_clock_id)
        while subscription.status is SubscriptionStatus.ACTIVE and subscription.current_period.end <= now:
            # The scheduler has not closed an ended period yet: close it first (I-10).
            _, set_aside = await self._billing.drafting.close_locked(uow, [subscription], now)
            if set_aside:
                error = set_aside[subscription_id]
                raise FailedPrecondition(error.message, reason=error.reason)
            subscription = await uow.subscriptions.get(subscription_id)
        mode = CancellationMode.AT_PERIOD_END if at_period_end else CancellationMode.NOW
        cancellation = plan_cancellation(subscription.status, mode, subscription.current_period, now)
        if mode is CancellationMode.AT_PERIOD_END:
            await uow.subscriptions.update(subscription_id, cancel_at_period_end=True, update_time=now)
            return await uow.subscriptions.get(subscription_id), None
        metered = [item for item in subscription.items if item.price.usage_type is UsageType.METERED]
        invoice = None
        changes: dict[str, Any] = {"status": "canceled", "cancel_time": now, "update_time": now}
        if metered:
            period = cancellation.final_usage_period
            lines = await self._billing.rating.subscription_lines(
                uow, subscription, metered, usage_period=period, advance_period=None, deadline=deadline
            )
            grace = await self._billing.drafting.grace_period(uow, subscription)
            invoice = new_invoice(
                subscription,
                billing_reason=BillingReason.SUBSCRIPTION_CANCEL,
                period=period,
                lines=lines,
                status=InvoiceState.DRAFT,
                now=now,
                auto_finalize_time=auto_finalize_at(cancellation.ends_at, grace),
            )
            await uow.invoices.insert(invoice)
            changes["latest_invoice_id"] = invoice.id
        await uow.subscriptions.update(subscription_id, **changes)
        canceled = await uow.subscriptions.get(subscription_id)
        subscription_changed(uow, types.SUBSCRIPTION_CANCELED, canceled)
        return canceled, invoice

    async def hold_final_draft(self, invoice_id: str) -> None:
        """Hold credits for an immediate cancellation's final draft, once committed (C-13).
        Idempotent: the hold's request id is derived from the invoice id. No-op without one."""
        if not invoice_id:
            return
        async with self._billing.database.unit_of_work() as uow:
            invoice = await uow.invoices.get(invoice_id)
        await self._billing.drafting.hold_one(invoice)

    async def preview(
        self, subscription_id: str, as_of: datetime | None, deadline: Deadline
    ) -> tuple[InvoiceRecord, datetime]:
        """The upcoming invoice from usage so far, credits applied tentatively; nothing is
        stored or held (I-14). Read first, then rated, so that no connection is held while
        metering and credits answer. Lines that cannot be billed raise their error
        (FailedPrecondition LINE_AMOUNT_TOO_LARGE, QUANTITY_TOO_LARGE)."""
        async with self._billing.database.unit_of_work() as uow:
            subscription = await uow.subscriptions.get(subscription_id)
            if subscription.status is SubscriptionStatus.CANCELED:
                raise FailedPrecondition(
                    f"subscription {subscription_id} is canceled", reason=reasons.SUBSCRIPTION_CANCELED
                )
            period = subscription.current_period
            as_of = as_of or await now_for(uow, self._billing.clock, subscription.test_clock_id)
            if not period.start <= as_of <= period.end:
                raise InvalidArgument.for_field(
                    "as_of_time",
                    f"must lie within the current period [{period.start.isoformat()}, {period.end.isoformat()}]",
                    reason=reasons.INVALID_AS_OF_TIME,
                )
            price = subscription.items[0].price
            following = next_period(
                subscription.billing_cycle_anchor, price.interval, price.interval_count, period
            )
            job = LinesToRate(
                subscription,
                subscription.items,
                usage_so_far(period, as_of),
                None if subscription.cancel_at_period_end else following,
            )
            names = await self._billing.rating.product_names(uow, [job])
        lines = await self._billing.rating.lines_for(job, names, deadline)
        draft = replace(
            new_invoice(
                subscription,
                billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
                period=period,
                lines=lines,
                status=InvoiceState.DRAFT,
                now=as_of,
            ),
            id="",
        )
        allocation = []
        if has_metered_lines(draft):
            allocation = await self._billing.downstream.credits.preview(
                for_credits_preview(
                    subscription.customer_id,
                    subscription.currency,
                    period.end,
                    as_of,
                    [s.line for s in draft.lines],
                ),
                deadline,
            )
        return with_credits(draft, allocation, as_of), as_of
