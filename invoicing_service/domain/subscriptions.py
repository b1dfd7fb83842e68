"""Subscriptions: what a customer is subscribed to and how it starts and ends (I-3, I-10, I-11)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from drawdown.clock import ensure_utc
from drawdown.errors import FailedPrecondition, InvalidArgument
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import Interval, Period, period_containing
from invoicing_service.domain.prices import MAX_LINE_AMOUNT, LineNotBillable, Price, UsageType, line_amount

# Stripe's limit; each item becomes one line of every invoice.
MAX_ITEMS = 20
DEFAULT_GRACE_PERIOD = timedelta(hours=1)
MAX_GRACE_PERIOD = timedelta(hours=72)


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    CANCELED = "canceled"


class CancellationMode(StrEnum):
    """Cancel now, invoicing the usage so far, or let the current period run out."""

    NOW = "now"
    AT_PERIOD_END = "at_period_end"


@dataclass(frozen=True)
class SubscriptionItem:
    """One price on a subscription; ``quantity`` only for licensed prices (seats)."""

    id: str
    price_id: str
    price: Price
    quantity: int | None = None


@dataclass(frozen=True)
class Cancellation:
    """When the subscription ends and which usage its final invoice bills."""

    ends_at: datetime
    final_usage_period: Period


def validate_items(items: Sequence[SubscriptionItem]) -> None:
    """Check a new subscription's items (I-3).

    At least one and at most 20 items (ITEMS_REQUIRED, TOO_MANY_ITEMS), each price at
    most once (DUPLICATE_PRICE); every price shares the first item's currency
    (MIXED_CURRENCIES) and interval × count (MIXED_INTERVALS), reported on
    ``items[i].price_id``; licensed items need a quantity ≥ 0 (0 bills nothing) and metered
    items take none, since the meter supplies it (INVALID_QUANTITY on
    ``items[i].quantity``). A licensed item's line, quantity × its price, must stay within
    ``MAX_LINE_AMOUNT`` (LINE_AMOUNT_TOO_LARGE on ``items[i].quantity``): it is billed every
    period, so it is refused here rather than when it is billed.
    """
    if not items:
        raise InvalidArgument.for_field(
            "items", "a subscription needs at least one item", reason=reasons.ITEMS_REQUIRED
        )
    if len(items) > MAX_ITEMS:
        raise InvalidArgument.for_field(
            "items", f"a subscription has at most {MAX_ITEMS} items", reason=reasons.TOO_MANY_ITEMS
        )
    first = items[0].price
    seen_price_ids: set[str] = set()
    for index, item in enumerate(items):
        field = f"items[{index}]"
        if item.price_id in seen_price_ids:
            raise InvalidArgument.for_field(
                f"{field}.price_id",
                f"price {item.price_id} is already on the subscription",
                reason=reasons.DUPLICATE_PRICE,
            )
        seen_price_ids.add(item.price_id)
        if item.price.currency != first.currency:
            raise InvalidArgument.for_field(
                f"{field}.price_id",
                f"price is in {item.price.currency}, items[0] in {first.currency};"
                " all items share one currency",
                reason=reasons.MIXED_CURRENCIES,
            )
        if (item.price.interval, item.price.interval_count) != (first.interval, first.interval_count):
            raise InvalidArgument.for_field(
                f"{field}.price_id",
                f"price recurs every {_describe_interval(item.price)},"
                f" items[0] every {_describe_interval(first)}; all items share one interval",
                reason=reasons.MIXED_INTERVALS,
            )
        _check_quantity(item, field)


def invoice_at_creation(items: Sequence[SubscriptionItem]) -> bool:
    """Whether creating the subscription issues an invoice at once (I-10).

    Licensed items are billed in advance, so they are invoiced for the first period at
    creation; metered usage is billed in arrears, so a metered-only subscription gets
    its first invoice when its first period ends.
    """
    return any(item.price.usage_type is UsageType.LICENSED for item in items)


def first_period(start: datetime, interval: Interval, count: int) -> Period:
    """The first billing period of a subscription starting at ``start`` (I-3): periods run
    from the start, which is the billing-cycle anchor."""
    start = ensure_utc(start)
    return period_containing(start, interval, count, start)


def plan_cancellation(
    status: SubscriptionStatus, mode: CancellationMode, current_period: Period, now: datetime
) -> Cancellation:
    """How a subscription ends when canceled ``now`` (I-3).

    NOW ends it at once; its final invoice bills the usage of [period start, now).
    AT_PERIOD_END lets the current period run out; the regular period-end invoice is the
    final one (without advance charges for a next period). A canceled subscription cannot
    be canceled again (FailedPrecondition SUBSCRIPTION_CANCELED).
    """
    if status is SubscriptionStatus.CANCELED:
        raise FailedPrecondition("the subscription is already canceled", reason=reasons.SUBSCRIPTION_CANCELED)
    now = ensure_utc(now)
    if not current_period.start <= now < current_period.end:
        # The scheduler closes ended periods before anything else touches the subscription.
        raise ValueError(f"{now} is outside the current period {current_period}")
    if mode is CancellationMode.NOW:
        return Cancellation(ends_at=now, final_usage_period=Period(current_period.start, now))
    return Cancellation(ends_at=current_period.end, final_usage_period=current_period)


def validate_grace_period(grace_period: timedelta | None) -> timedelta:
    """The time a draft waits after its period ends before it finalizes (I-11).

    Defaults to 1 hour; 0 to 72 hours (INVALID_ARGUMENT if negative,
    GRACE_PERIOD_TOO_LONG above 72 hours). Usage reported in that time for the ended
    period is still billed.
    """
    if grace_period is None:
        return DEFAULT_GRACE_PERIOD
    if grace_period < timedelta(0):
        raise InvalidArgument.for_field("grace_period", "must not be negative")
    if grace_period > MAX_GRACE_PERIOD:
        raise InvalidArgument.for_field(
            "grace_period", "must be at most 72 hours", reason=reasons.GRACE_PERIOD_TOO_LONG
        )
    return grace_period


def _check_quantity(item: SubscriptionItem, field: str) -> None:
    if item.price.usage_type is UsageType.METERED:
        if item.quantity is not None:
            raise InvalidArgument.for_field(
                f"{field}.quantity",
                "a metered item takes no quantity; its usage comes from the meter",
                reason=reasons.INVALID_QUANTITY,
            )
    elif item.quantity is None or item.quantity < 0:
        raise InvalidArgument.for_field(
            f"{field}.quantity",
            "a licensed item needs a quantity of at least 0",
            reason=reasons.INVALID_QUANTITY,
        )
    else:
        try:
            line_amount(item.price, Decimal(item.quantity))
        except LineNotBillable:
            raise InvalidArgument.for_field(
                f"{field}.quantity",
                f"{item.quantity} units of this price would bill more than {MAX_LINE_AMOUNT:,}"
                " minor units on one line",
                reason=reasons.LINE_AMOUNT_TOO_LARGE,
            ) from None


def _describe_interval(price: Price) -> str:
    return f"{price.interval_count} {price.interval}"
