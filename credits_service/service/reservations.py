"""Reservations and the spendable balance: load under the customer's lock, decide with
``domain.reservations``, store (R-1..R-4).

A reservation takes the customer's lock, the lock every money movement of the customer
takes first (C-14), so reservations serialize with each other and with draws: the check
against the spendable balance and the insert are one step (R-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from credits_service.domain import reasons
from credits_service.domain.reservations import Reservation, Spendable, available_credits, reserve
from credits_service.store.unit import CreditRepositories, RawReading
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import NotFound
from drawdown.money import Money


@dataclass(frozen=True)
class NewReservation:
    reservation_id: str
    customer_id: str
    price_id: str
    amount: Money
    ttl: timedelta
    unbilled_usage: Money
    overdraft_allowance: Money


class ReservationUseCases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def reserve(self, uow: CreditRepositories, new: NewReservation) -> Reservation:
        """R-1, R-3: reserve if it fits the spendable balance at the customer's now; a retry
        (same id) gets the reservation as first made."""
        now = self._clock.now()
        draw = await uow.draws.lock_for_draw(new.customer_id, new.reservation_id, now, clock=False)
        existing, reserved_by_currency, as_of = await uow.reservations.state(
            new.reservation_id, new.customer_id, now
        )
        if existing is not None:
            return existing
        currency = new.amount.currency
        reserved = reserved_by_currency.get(currency, 0)
        spendable = Spendable(
            available_credits=available_credits(draw.grants, currency, as_of),
            reserved=Money(currency, reserved),
            unbilled_usage=new.unbilled_usage,
            overdraft_allowance=new.overdraft_allowance,
        )
        reservation = reserve(
            reservation_id=new.reservation_id,
            customer_id=new.customer_id,
            price_id=new.price_id,
            amount=new.amount,
            spendable=spendable,
            grants=draw.grants,
            now=as_of,
            ttl=new.ttl,
        )
        await uow.reservations.insert(reservation)
        return reservation

    async def end(self, uow: CreditRepositories, reservation_id: str, customer_id: str) -> Reservation:
        """R-4: end it (captured or released); ending it again changes nothing."""
        now = await uow.customers.clock_time_of(customer_id) or self._clock.now()
        ended = await uow.reservations.end(reservation_id, customer_id, now)
        if ended is None:
            ended = await uow.reservations.get(reservation_id, customer_id)
        if ended is None:
            raise NotFound(
                f"credit reservation {reservation_id} not found",
                reason=reasons.CREDIT_RESERVATION_NOT_FOUND,
                metadata={"id": reservation_id},
            )
        return ended

    async def spendable(
        self, customer_id: str, unbilled: Mapping[str, Money], overdraft: Mapping[str, Money]
    ) -> tuple[datetime, list[Spendable]]:
        """R-2 per currency at the customer's now, by currency code."""
        async with RawReading(self._database) as uow:
            as_of, balances, reserved, granted = await uow.reservations.spendable_state(
                customer_id, self._clock.now()
            )
        available = {b.available.currency: b.available for b in balances}
        currencies = sorted(set(available) | set(reserved) | set(unbilled) | set(overdraft))
        return as_of, [
            Spendable(
                available_credits=available.get(c, Money.zero(c)),
                reserved=Money(c, reserved.get(c, 0)),
                unbilled_usage=unbilled.get(c, Money.zero(c)),
                overdraft_allowance=overdraft.get(c, Money.zero(c)),
                granted=Money(c, granted.get(c, 0)),
            )
            for c in currencies
        ]
