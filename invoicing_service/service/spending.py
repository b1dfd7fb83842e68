"""What a customer may spend now: unbilled usage, the live balance and the spendable
balance (I-17, R-2), one computation.

Invoicing rates the usage of open periods (it owns prices and subscriptions); credits
subtracts it, with the active reservations, from the available credits and adds the
overdraft allowance, under the same rule a reservation is checked by
(``CreditReservationService.GetSpendableBalance``). Read first, then rated, so that no
connection is held while metering and credits answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from drawdown.deadlines import Deadline
from drawdown.errors import FailedPrecondition
from drawdown.money import Money, currency_exponent, validate_currency
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import usage_so_far
from invoicing_service.domain.prices import UsageType
from invoicing_service.service.billing import Billing
from invoicing_service.service.clocks import now_for
from invoicing_service.service.rating import LinesToRate
from invoicing_service.store.records import CustomerRecord, SubscriptionRecord
from invoicing_service.store.unit import InvoicingUnit

# The largest amount google.type.Money carries: int64 units of the major unit.
_MAX_MONEY_UNITS = 2**63 - 1


@dataclass(frozen=True)
class LiveBalance:
    """One currency of a customer's live and spendable balance (I-17, R-2)."""

    available_credits: Money
    unbilled_usage: Money
    reserved: Money
    overdraft_allowance: Money
    spendable_balance: Money

    @property
    def live_balance(self) -> Money:
        return self.available_credits - self.unbilled_usage


@dataclass(frozen=True)
class Unbilled:
    """The rated usage of open periods per currency (minor units), and the raw usage so far
    of each metered subscription item (by item id)."""

    amounts: dict[str, int]
    usage_by_item: dict[str, Decimal]


@dataclass(frozen=True)
class CustomerNow:
    """A customer, its now and its active subscriptions, read in one unit of work."""

    customer: CustomerRecord
    as_of: datetime
    subscriptions: Sequence[SubscriptionRecord]

    def overdraft_allowances(self) -> dict[str, Money]:
        return {c: Money(c, minor) for c, minor in self.customer.overdraft_allowances.items()}


class Spending:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def customer_now(self, customer_id: str) -> CustomerNow:
        async with self._billing.database.unit_of_work() as uow:
            return await self.read_customer_now(uow, customer_id)

    async def read_customer_now(self, uow: InvoicingUnit, customer_id: str) -> CustomerNow:
        customer = await uow.customers.get(customer_id)
        as_of = await now_for(uow, self._billing.clock, customer.test_clock_id)
        subscriptions = await uow.subscriptions.active_of_customer(customer_id)
        return CustomerNow(customer, as_of, subscriptions)

    async def unbilled(self, now: CustomerNow, deadline: Deadline) -> Unbilled:
        """The metered usage of every active subscription from its current period's start
        through ``now.as_of``, priced exactly as its invoice line would be (I-17). Usage
        that cannot be billed raises its error (LINE_AMOUNT_TOO_LARGE, QUANTITY_TOO_LARGE)."""
        amounts: dict[str, int] = {s.currency: 0 for s in now.subscriptions}
        usage: dict[str, Decimal] = {}
        jobs = [
            LinesToRate(
                subscription,
                [i for i in subscription.items if i.price.usage_type is UsageType.METERED],
                usage_so_far(subscription.current_period, now.as_of),
                None,
            )
            for subscription in now.subscriptions
        ]
        jobs = [job for job in jobs if job.items]
        for job, rated in zip(
            jobs, await self._billing.rating.rate(jobs, {}, deadline) if jobs else [], strict=True
        ):
            if rated.error is not None:
                raise rated.error
            amounts[job.subscription.currency] += sum(stored.line.amount.minor for stored in rated.lines)
            for stored in rated.lines:
                if stored.line.subscription_item_id and stored.usage_quantity is not None:
                    usage[stored.line.subscription_item_id] = stored.usage_quantity
        return Unbilled(amounts, usage)

    async def live_balance(
        self, customer_id: str, currency: str, deadline: Deadline
    ) -> tuple[datetime, list[tuple[str, LiveBalance]]]:
        """Per currency: available credits, unbilled usage, active authorizations, the
        overdraft allowance and what remains spendable (I-17, R-2). Amounts beyond what
        google.type.Money carries are FailedPrecondition AMOUNT_TOO_LARGE."""
        if currency:
            validate_currency(currency, "currency")
        now = await self.customer_now(customer_id)
        unbilled = await self.unbilled(now, deadline)
        as_of, balances = await self._billing.downstream.credits.spendable(
            customer_id,
            {c: Money(c, minor) for c, minor in unbilled.amounts.items()},
            now.overdraft_allowances(),
            deadline,
        )
        live = [
            (
                b.available_credits.currency,
                LiveBalance(
                    b.available_credits,
                    b.unbilled_usage,
                    b.reserved,
                    b.overdraft_allowance,
                    b.spendable_balance,
                ),
            )
            for b in balances
            if not currency or b.available_credits.currency == currency
        ]
        if currency and not live:
            zero = Money.zero(currency)
            live = [(currency, LiveBalance(zero, zero, zero, zero, zero))]
        for _, balance in live:
            for amount in (balance.live_balance, balance.spendable_balance):
                if abs(amount.minor) // 10 ** currency_exponent(amount.currency) > _MAX_MONEY_UNITS:
                    raise FailedPrecondition(
                        f"the live balance in {amount.currency} is beyond what an amount can carry",
                        reason=reasons.AMOUNT_TOO_LARGE,
                    )
        return as_of, live
