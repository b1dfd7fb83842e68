"""Reservations of credits for usage about to happen, and the spendable balance (R-1..R-3).

Pure: the service loads the balances under the customer's lock and stores what this
module decides. One computation answers both "how much may this customer spend now"
(GetSpendableBalance, behind invoicing's live balance) and "may it spend this much"
(ReserveCredits), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from credits_service.domain import reasons
from credits_service.domain.balances import GrantBalances
from credits_service.domain.drawdown import grant_order_key
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import Money

# a reservation counts for at most a day unless ended before.
MAX_RESERVATION_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Spendable:
    """One currency of a spendable balance (R-2)."""

    available_credits: Money
    reserved: Money
    unbilled_usage: Money
    overdraft_allowance: Money
    # The amounts of the grants effective and not voided, what R-7's percentages are of;
    # None where it is not read (a reservation's check).
    granted: Money | None = None

    @property
    def balance(self) -> Money:
        """available − unbilled − reserved + overdraft allowance."""
        return self.available_credits - self.unbilled_usage - self.reserved + self.overdraft_allowance


@dataclass(frozen=True)
class Reservation:
    """A reservation as stored: ``sources`` are the grants that would pay it (R-1)."""

    id: str
    customer_id: str
    price_id: str
    amount: Money
    sources: tuple[tuple[str, Money], ...]
    spendable_after: Money
    create_time: datetime
    expire_time: datetime
    end_time: datetime | None = None

    @property
    def uncovered(self) -> Money:
        return self.amount - Money(self.amount.currency, sum(m.minor for _, m in self.sources))


def available_credits(grants: Iterable[GrantBalances], currency: str, as_of: datetime) -> Money:
    """C-20 summed over the customer's grants in ``currency``, as the balance summary sums it."""
    return Money(
        currency, sum(g.available(as_of).minor for g in grants if g.grant.amount.currency == currency)
    )


def validate_ttl(ttl: timedelta, field: str) -> timedelta:
    if ttl <= timedelta(0) or ttl > MAX_RESERVATION_TTL:
        raise InvalidArgument.for_field(
            field, "must be positive and at most 24 hours", reason=reasons.INVALID_TTL
        )
    return ttl


def reserve(
    *,
    reservation_id: str,
    customer_id: str,
    price_id: str,
    amount: Money,
    spendable: Spendable,
    grants: Iterable[GrantBalances],
    now: datetime,
    ttl: timedelta,
) -> Reservation:
    """R-1, R-3: the reservation of ``amount`` if it fits ``spendable``, else
    INSUFFICIENT_CREDITS with the spendable balance. ``grants`` are the customer's; the
    reservation names those that would pay it in C-11 order once what is claimed before
    it (unbilled usage, earlier reservations) has drawn on them."""
    if amount > spendable.balance:
        raise insufficient(spendable.balance)
    claimed_before = spendable.unbilled_usage.minor + spendable.reserved.minor
    left = amount.minor
    sources: list[tuple[str, Money]] = []
    eligible = sorted(
        (
            g
            for g in grants
            if g.grant.amount.currency == amount.currency and g.grant.applicability.covers(price_id)
        ),
        key=lambda g: grant_order_key(g.grant),
    )
    for balances in eligible:
        if left == 0:
            break
        available = balances.available(now).minor
        taken_by_earlier = min(available, claimed_before)
        claimed_before -= taken_by_earlier
        share = min(available - taken_by_earlier, left)
        if share > 0:
            sources.append((balances.grant.id, Money(amount.currency, share)))
            left -= share
    return Reservation(
        id=reservation_id,
        customer_id=customer_id,
        price_id=price_id,
        amount=amount,
        sources=tuple(sources),
        spendable_after=spendable.balance - amount,
        create_time=now,
        expire_time=now + ttl,
    )


def insufficient(spendable: Money) -> FailedPrecondition:
    return FailedPrecondition(
        f"the customer can spend {spendable.minor} minor units of {spendable.currency} now",
        reason=reasons.INSUFFICIENT_CREDITS,
        metadata={"spendable_balance": str(spendable.minor), "currency": spendable.currency},
    )
