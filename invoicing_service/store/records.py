"""What the store returns: the domain objects plus the bookkeeping fields the API shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from invoicing_service.domain.balance_watches import AutoTopUp, BalanceAlert
from invoicing_service.domain.invoices import BillingReason, InvoiceLine, InvoiceState
from invoicing_service.domain.periods import Period
from invoicing_service.domain.prices import Price
from invoicing_service.domain.subscriptions import SubscriptionItem, SubscriptionStatus
from invoicing_service.domain.test_clocks import TestClockStatus


@dataclass(frozen=True)
class BillingErrorRecord:
    """Why a subscription or invoice was set aside, unbilled (X-6), and when (wall clock)."""

    reason: str
    message: str
    time: datetime


@dataclass(frozen=True)
class TestClockRecord:
    id: str
    name: str
    frozen_time: datetime
    status: TestClockStatus
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    name: str
    email: str
    metadata: Mapping[str, str]
    test_clock_id: str | None
    grace_period: timedelta
    create_time: datetime
    update_time: datetime
    # currency → overdraft allowance in minor units.
    overdraft_allowances: Mapping[str, int] = field(default_factory=dict)
    # the watches on its spendable balance.
    auto_top_ups: tuple[AutoTopUp, ...] = ()
    balance_alerts: tuple[BalanceAlert, ...] = ()

    @property
    def watches_balance(self) -> bool:
        return bool(self.auto_top_ups or self.balance_alerts)


@dataclass(frozen=True)
class ProductRecord:
    id: str
    name: str
    description: str
    active: bool
    metadata: Mapping[str, str]
    create_time: datetime


@dataclass(frozen=True)
class PriceRecord:
    id: str
    product_id: str
    active: bool
    nickname: str
    metadata: Mapping[str, str]
    price: Price
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    customer_id: str
    items: tuple[SubscriptionItem, ...]
    currency: str
    billing_cycle_anchor: datetime
    current_period: Period
    status: SubscriptionStatus
    cancel_at_period_end: bool
    cancel_time: datetime | None
    grace_period: timedelta | None
    latest_invoice_id: str | None
    test_clock_id: str | None
    create_time: datetime
    update_time: datetime
    billing_error: BillingErrorRecord | None = None


@dataclass(frozen=True)
class LineCredit:
    """Credit from one grant on one line; ``transaction_id`` once posted (C-13)."""

    grant_id: str
    amount: int
    transaction_id: str = ""


@dataclass(frozen=True)
class StoredLine:
    line: InvoiceLine
    description: str
    usage_quantity: Decimal | None
    credits: tuple[LineCredit, ...] = ()

    @property
    def credits_applied(self) -> int:
        return sum(credit.amount for credit in self.credits)


@dataclass(frozen=True)
class CreditApplicationRecord:
    grant_id: str
    amount: int
    transaction_ids: tuple[str, ...] = ()
    reinstate_transaction_id: str = ""


@dataclass(frozen=True)
class InvoiceRecord:
    id: str
    customer_id: str
    subscription_id: str | None
    status: InvoiceState
    billing_reason: BillingReason
    currency: str
    period: Period
    lines: tuple[StoredLine, ...]
    subtotal: int
    total_credits_applied: int
    amount_due: int
    amount_paid: int
    credit_applications: tuple[CreditApplicationRecord, ...]
    auto_finalize_time: datetime | None
    finalize_time: datetime | None
    paid_time: datetime | None
    void_time: datetime | None
    uncollectible_time: datetime | None
    credit_purchase: Mapping[str, object] | None
    test_clock_id: str | None
    create_time: datetime
    update_time: datetime
    billing_error: BillingErrorRecord | None = None
