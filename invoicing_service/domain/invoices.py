"""Invoices: their lines, totals, credits and statuses, and the events their changes record (I-10 .. I-14, E-1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from drawdown.errors import FailedPrecondition
from drawdown.events import types
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import Period
from invoicing_service.domain.prices import (
    BillingScheme,
    UsageType,
    billable_quantity,
    check_quantity,
    line_amount,
)
from invoicing_service.domain.subscriptions import SubscriptionItem


class InvoiceStatus(StrEnum):
    """The status an invoice shows (I-12)."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class BillingReason(StrEnum):
    """Why an invoice was created (I-10, I-3, I-15), as Stripe's ``billing_reason``."""

    SUBSCRIPTION_CYCLE = "subscription_cycle"
    SUBSCRIPTION_CANCEL = "subscription_cancel"
    SUBSCRIPTION_CREATE = "subscription_create"
    CREDIT_PURCHASE = "credit_purchase"


class InvoiceAction(StrEnum):
    """What a caller (or the scheduler) asks of an invoice."""

    FINALIZE = "finalize"
    PAY = "pay"
    VOID = "void"
    MARK_UNCOLLECTIBLE = "mark_uncollectible"


class LineKind(StrEnum):
    """Metered lines bill usage in arrears, licensed lines a quantity in advance; only
    metered lines can be paid with credits (C-10)."""

    METERED = "metered"
    LICENSED = "licensed"
    CREDIT_PURCHASE = "credit_purchase"


# I-12: the statuses each action may lead to, by the status it starts from. Finalization
# leads to open or paid depending on the amount due (see status_after_finalization).
TRANSITIONS: Mapping[tuple[InvoiceStatus, InvoiceAction], frozenset[InvoiceStatus]] = {
    (InvoiceStatus.DRAFT, InvoiceAction.FINALIZE): frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID}),
    (InvoiceStatus.OPEN, InvoiceAction.PAY): frozenset({InvoiceStatus.PAID}),
    (InvoiceStatus.OPEN, InvoiceAction.VOID): frozenset({InvoiceStatus.VOID}),
    (InvoiceStatus.OPEN, InvoiceAction.MARK_UNCOLLECTIBLE): frozenset({InvoiceStatus.UNCOLLECTIBLE}),
}


class InvoiceState(StrEnum):
    """An invoice's status as stored (I-12): one it shows, or a saga step, stored before
    the call to another service that completes it, so that a retry or the recovery sweep
    can finish what a crash or an outage interrupted."""

    DRAFT = "draft"
    FINALIZING = "finalizing"
    OPEN = "open"
    VOIDING = "voiding"
    PAYING = "paying"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"

    @property
    def shown(self) -> InvoiceStatus:
        """The status the API shows: a saga step shows the status its action started from."""
        return _SHOWN[self]

    @property
    def in_flight(self) -> bool:
        """A saga step: the call that completes it may not have succeeded yet."""
        return self in SAGA_STEPS.values()


# The saga step each action that calls another service stores first: finalizing until
# credits are applied, voiding until they are reinstated, paying until a credit purchase's
# grant is created. Marking an invoice uncollectible calls no other service.
SAGA_STEPS: Mapping[InvoiceAction, InvoiceState] = {
    InvoiceAction.FINALIZE: InvoiceState.FINALIZING,
    InvoiceAction.VOID: InvoiceState.VOIDING,
    InvoiceAction.PAY: InvoiceState.PAYING,
}
_SHOWN: Mapping[InvoiceState, InvoiceStatus] = {
    InvoiceState.DRAFT: InvoiceStatus.DRAFT,
    InvoiceState.FINALIZING: InvoiceStatus.DRAFT,
    InvoiceState.OPEN: InvoiceStatus.OPEN,
    InvoiceState.VOIDING: InvoiceStatus.OPEN,
    InvoiceState.PAYING: InvoiceStatus.OPEN,
    InvoiceState.PAID: InvoiceStatus.PAID,
    InvoiceState.VOID: InvoiceStatus.VOID,
    InvoiceState.UNCOLLECTIBLE: InvoiceStatus.UNCOLLECTIBLE,
}


@dataclass(frozen=True)
class InvoiceLine:
    """One line: what was billed, for which period, at what unit amount.

    ``unit_amount_decimal`` (minor units) is None for tiered prices, whose amount has no
    single unit amount. Subscription lines name their price and item; a credit purchase
    line names neither.
    """

    id: str
    kind: LineKind
    period: Period
    quantity: Decimal
    unit_amount_decimal: Decimal | None
    amount: Money
    price_id: str | None = None
    subscription_item_id: str | None = None


@dataclass(frozen=True)
class MeteredUsage:
    """A meter's aggregate for one customer over ``period``, as metering reported it."""

    period: Period
    quantity: Decimal


@dataclass(frozen=True)
class CreditApplication:
    """Credits of one grant paying (part of) one line.

    ``transaction_id`` names the posted ``credits_applied`` transaction; it is None while
    the credits are only held for a draft or shown in a preview (C-13).
    """

    line_id: str
    grant_id: str
    amount: Money
    transaction_id: str | None = None


@dataclass(frozen=True)
class LineTotal:
    line: InvoiceLine
    credits: tuple[CreditApplication, ...]
    credits_total: Money


@dataclass(frozen=True)
class Payment:
    """What an invoice shows as paid, and as still to be paid (I-13)."""

    amount_paid: Money
    amount_remaining: Money


@dataclass(frozen=True)
class InvoiceTotals:
    """The figures an invoice shows (I-13)."""

    lines: tuple[LineTotal, ...]
    subtotal: Money
    credits_total: Money
    total: Money
    amount_due: Money


def draft_lines(
    items: Sequence[SubscriptionItem],
    usage: Mapping[str, MeteredUsage],
    *,
    usage_period: Period | None,
    advance_period: Period | None,
    new_line_id: Callable[[], str],
) -> tuple[InvoiceLine, ...]:
    """The lines of a subscription invoice, one per item in item order (I-10).

    A metered item bills its usage (``usage`` by item id) for exactly ``usage_period``,
    in arrears; a negative total bills as zero. A licensed item bills quantity × unit
    amount for ``advance_period``, in advance. Usage or an amount beyond what a line holds
    raises ``LineNotBillable`` (QUANTITY_TOO_LARGE, LINE_AMOUNT_TOO_LARGE). A None period leaves that kind out: the
    invoice at creation has no usage yet, and a subscription's final invoice bills no
    next period. Usage measured over any other range than ``usage_period`` is refused
    (ValueError), as is a metered item without usage: both are caller bugs.
    """
    lines = []
    for item in items:
        if item.price.usage_type is UsageType.METERED and usage_period is not None:
            quantity = _usage_for(item, usage, usage_period)
            lines.append(_line(item, LineKind.METERED, usage_period, quantity, new_line_id()))
        elif item.price.usage_type is UsageType.LICENSED and advance_period is not None:
            assert item.quantity is not None, "licensed item without quantity"
            lines.append(
                _line(item, LineKind.LICENSED, advance_period, Decimal(item.quantity), new_line_id())
            )
    return tuple(lines)


def invoice_totals(
    currency: str, lines: Sequence[InvoiceLine], credits: Iterable[CreditApplication] = ()
) -> InvoiceTotals:
    """Subtotal, credits (per line and in all), total and amount due (I-11, I-13).

    Total is the subtotal (no discounts or taxes yet); credits apply before tax (C-12);
    amount_due = total − credits. Credits must name lines of this invoice, be positive,
    be in its currency and never exceed a line's amount, so amount_due is never below
    zero; anything else is a bug in the allocation (ValueError).
    """
    credits_by_line: dict[str, list[CreditApplication]] = {line.id: [] for line in lines}
    for application in credits:
        if application.line_id not in credits_by_line:
            raise ValueError(f"credits for {application.line_id}, which is not a line of this invoice")
        if application.amount.currency != currency or application.amount.minor <= 0:
            raise ValueError(f"credit application of {application.amount} on a {currency} invoice")
        credits_by_line[application.line_id].append(application)
    line_totals = tuple(_line_total(currency, line, credits_by_line[line.id]) for line in lines)
    subtotal = _sum(currency, (line.amount for line in lines))
    credits_total = _sum(currency, (line_total.credits_total for line_total in line_totals))
    return InvoiceTotals(
        lines=line_totals,
        subtotal=subtotal,
        credits_total=credits_total,
        total=invoice_total(subtotal),
        amount_due=subtotal - credits_total,
    )


def invoice_total(subtotal: Money) -> Money:
    """An invoice's total (I-13): its subtotal, as there are no discounts or taxes yet."""
    return subtotal


def invoice_payment(state: InvoiceState, amount_due: Money, amount_paid: Money) -> Payment:
    """What an invoice shows of its payment (I-13): the amount paid counts once the invoice
    is paid; until then nothing is paid, and the amount due remains."""
    paid = amount_paid if state is InvoiceState.PAID else Money.zero(amount_due.currency)
    return Payment(amount_paid=paid, amount_remaining=amount_due - paid)


def status_after_finalization(amount_due: Money) -> InvoiceStatus:
    """A finalized invoice with nothing due is paid, otherwise open (I-11)."""
    if amount_due.is_negative():
        raise ValueError(f"amount due {amount_due} is negative")
    return InvoiceStatus.PAID if amount_due.is_zero() else InvoiceStatus.OPEN


def next_status(
    current: InvoiceStatus, action: InvoiceAction, *, amount_due: Money | None = None
) -> InvoiceStatus:
    """The status ``action`` leads to from ``current`` (I-12).

    Finalize only from draft (to paid or open, by ``amount_due``, which it requires);
    pay, void and mark-uncollectible only from open. Anything else is FailedPrecondition
    INVALID_INVOICE_STATUS naming the status and the action.
    """
    targets = _allowed_targets(current, action)
    if action is InvoiceAction.FINALIZE:
        if amount_due is None:
            raise TypeError("finalization needs the amount due")
        return status_after_finalization(amount_due)
    (target,) = targets
    return target


def started_state(current: InvoiceState, action: InvoiceAction) -> InvoiceState:
    """The state an invoice is in once ``action`` has started (I-12): the action's saga
    step, or, for one that calls no other service, the status it leads to. An invoice in
    that step already stays in it (a retry resumes the step); otherwise the action must be
    allowed from the status the invoice shows (see ``next_status``)."""
    step = SAGA_STEPS.get(action)
    if step is None:
        return InvoiceState(next_status(current.shown, action))
    if current is not step:
        _allowed_targets(current.shown, action)
    return step


def completed_state(step: InvoiceState, *, amount_due: Money | None = None) -> InvoiceState:
    """Where a saga step ends once its call has succeeded (I-12): finalizing in open or
    paid, by ``amount_due`` (I-11); voiding in void; paying in paid."""
    (action,) = (action for action, its_step in SAGA_STEPS.items() if its_step is step)
    return InvoiceState(next_status(step.shown, action, amount_due=amount_due))


def event_types(
    before: InvoiceState | None, after: InvoiceState, *, credit_purchase: bool
) -> tuple[str, ...]:
    """The events an invoice's change from ``before`` (None: a new invoice) to ``after``
    records (E-1): one per status it newly shows, in order. A saga step shows the status
    it started from, so only its completion records anything; a credit purchase that
    becomes paid also records ``credit_purchase.paid``."""
    shown_before, shown_after = (None if before is None else before.shown), after.shown
    if shown_before is shown_after:
        return ()
    found: list[str] = []
    if shown_before is None:
        found.append(types.INVOICE_CREATED)
    if shown_before in (None, InvoiceStatus.DRAFT) and shown_after is not InvoiceStatus.DRAFT:
        found.append(types.INVOICE_FINALIZED)
    found.extend(_EVENT_OF_STATUS.get(shown_after, ()))
    if credit_purchase and shown_after is InvoiceStatus.PAID:
        found.append(types.CREDIT_PURCHASE_PAID)
    return tuple(found)


_EVENT_OF_STATUS: Mapping[InvoiceStatus, tuple[str, ...]] = {
    InvoiceStatus.PAID: (types.INVOICE_PAID,),
    InvoiceStatus.VOID: (types.INVOICE_VOIDED,),
    InvoiceStatus.UNCOLLECTIBLE: (types.INVOICE_MARKED_UNCOLLECTIBLE,),
}


def states_shown_as(status: InvoiceStatus) -> tuple[InvoiceState, ...]:
    """The stored states that show ``status``: the status itself and the saga steps that
    start from it."""
    return tuple(state for state in InvoiceState if state.shown is status)


def _allowed_targets(current: InvoiceStatus, action: InvoiceAction) -> frozenset[InvoiceStatus]:
    targets = TRANSITIONS.get((current, action))
    if targets is None:
        allowed_from = sorted(status for status, allowed_action in TRANSITIONS if allowed_action is action)
        raise FailedPrecondition(
            f"cannot {action.replace('_', ' ')} an invoice that is {current};"
            f" allowed only from {', '.join(allowed_from)}",
            reason=reasons.INVALID_INVOICE_STATUS,
            metadata={"status": current, "action": action},
        )
    return targets


def auto_finalize_at(period_end: datetime, grace_period: timedelta) -> datetime:
    """When a draft for a period ending at ``period_end`` finalizes by itself: after the
    grace period, during which late usage for the period is still billed (I-11)."""
    return period_end + grace_period


def _usage_for(item: SubscriptionItem, usage: Mapping[str, MeteredUsage], period: Period) -> Decimal:
    measured = usage.get(item.id)
    if measured is None:
        raise ValueError(f"no usage for metered item {item.id}")
    if measured.period != period:
        raise ValueError(f"usage of item {item.id} measured over {measured.period}, not the billed {period}")
    return billable_quantity(check_quantity(measured.quantity))  # the raw usage is stored too


def _line(
    item: SubscriptionItem, kind: LineKind, period: Period, quantity: Decimal, line_id: str
) -> InvoiceLine:
    price = item.price
    return InvoiceLine(
        id=line_id,
        kind=kind,
        period=period,
        quantity=quantity,
        unit_amount_decimal=price.unit_amount_decimal
        if price.billing_scheme is BillingScheme.PER_UNIT
        else None,
        amount=line_amount(price, quantity),
        price_id=item.price_id,
        subscription_item_id=item.id,
    )


def _line_total(currency: str, line: InvoiceLine, credits: list[CreditApplication]) -> LineTotal:
    if line.amount.currency != currency:
        raise ValueError(f"line {line.id} is in {line.amount.currency}, the invoice in {currency}")
    credited = _sum(currency, (application.amount for application in credits))
    if credited.minor > line.amount.minor:
        # C-12: a line is never credited below zero.
        raise ValueError(f"line {line.id} of {line.amount} credited {credited}")
    return LineTotal(line=line, credits=tuple(credits), credits_total=credited)


def _sum(currency: str, amounts: Iterable[Money]) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total += amount
    return total
