"""Usage authorizations: authorize → capture, release, expiry (R-1..R-5).

Invoicing rates (it owns prices and subscriptions); the reservation is taken by credits,
where the balance is serialized, so the check and the reservation are one step (R-3).
Each call reads first and stores last, holding no connection while a peer answers.

Capture is a saga whose step is stored before each call: CAPTURING (with the quantity,
its amount and the event's moment) → the meter event, whose identifier is the
authorization's id, so that metering counts it once however often it is sent → the end of
the reservation → CAPTURED. A capture cut short (a crash, a peer down) is completed by
its retry or by the recovery sweep; neither counts the usage twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import AlreadyExists, FailedPrecondition
from drawdown.events import types
from drawdown.money import Money, round_minor
from invoicing_service.adapters.credits import Reservation
from invoicing_service.domain import reasons
from invoicing_service.domain.authorizations import (
    AuthorizationStatus,
    UsageAuthorization,
    begin_capture,
    rated_on_top,
    release,
)
from invoicing_service.domain.authorizations import (
    authorization_id as new_authorization_id,
)
from invoicing_service.domain.prices import UsageType
from invoicing_service.domain.subscriptions import SubscriptionItem
from invoicing_service.service.balance_watches import BalanceWatches
from invoicing_service.service.billing import Billing
from invoicing_service.service.clocks import now_for
from invoicing_service.service.spending import CustomerNow, Spending
from invoicing_service.store.unit import InvoicingUnit


@dataclass(frozen=True)
class UsageAsk:
    """What AuthorizeUsage asks for: a price or a meter, a quantity or an amount."""

    customer_id: str
    price_id: str
    meter_id: str
    quantity: Decimal | None
    amount: Money | None
    ttl: timedelta
    request_id: str

    def fingerprint(self) -> str:
        return hashlib.sha256(
            repr((self.price_id, self.meter_id, self.quantity, self.amount, self.ttl)).encode()
        ).hexdigest()


class UsageAuthorizations:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing
        self._spending = Spending(billing)
        self._watches = BalanceWatches(billing)

    async def authorize(self, ask: UsageAsk, deadline: Deadline) -> UsageAuthorization:
        """R-1: rate the estimate on top of the period's usage so far and reserve it if it
        fits the spendable balance (R-2); a retry (same request id) gets the first answer."""
        auth_id = new_authorization_id(ask.customer_id, ask.request_id)
        async with self._billing.database.unit_of_work() as uow:
            if ask.request_id and (earlier := await uow.authorizations.find(auth_id)) is not None:
                return _replayed(earlier, ask)
            now = await self._spending.read_customer_now(uow, ask.customer_id)
        item = _item_for(now, ask)
        unbilled = await self._spending.unbilled(now, deadline)
        if ask.amount is not None:
            if ask.amount.currency != item.price.currency:
                raise FailedPrecondition(
                    f"the price bills {item.price.currency}, not {ask.amount.currency}",
                    reason=reasons.CURRENCY_MISMATCH,
                    metadata={"currency": item.price.currency},
                )
            amount = ask.amount
        else:
            assert ask.quantity is not None
            amount = rated_on_top(item.price, unbilled.usage_by_item.get(item.id, Decimal(0)), ask.quantity)
        currency = amount.currency
        allowance = now.overdraft_allowances().get(currency, Money.zero(currency))
        unbilled_amount = Money(currency, unbilled.amounts.get(currency, 0))
        credits = self._billing.downstream.credits
        if amount.minor > 0:
            made = await credits.reserve(
                Reservation(
                    auth_id, ask.customer_id, item.price_id, amount, ask.ttl, unbilled_amount, allowance
                ),
                deadline,
            )
            sources, spendable, created, expires = (
                made.sources,
                made.spendable_after,
                made.create_time,
                made.expire_time,
            )
        else:  # nothing to reserve: granted as it is
            _, balances = await credits.spendable(
                ask.customer_id, {currency: unbilled_amount}, {currency: allowance}, deadline
            )
            spendable = next(
                b.spendable_balance for b in balances if b.spendable_balance.currency == currency
            )
            sources, created, expires = (), now.as_of, now.as_of + ask.ttl
        authorization = UsageAuthorization(
            id=auth_id,
            customer_id=ask.customer_id,
            test_clock_id=now.customer.test_clock_id,
            price_id=item.price_id,
            meter_id=item.price.meter_id or "",
            status=AuthorizationStatus.AUTHORIZED,
            authorized_quantity=ask.quantity,
            authorized_amount=amount,
            sources=sources,
            spendable_after=spendable,
            request_fingerprint=ask.fingerprint(),
            create_time=created,
            expire_time=expires,
        )
        async with self._billing.database.unit_of_work() as uow:
            if await uow.authorizations.insert(authorization, self._billing.clock.now()):
                _record(uow, types.USAGE_AUTHORIZATION_CREATED, authorization)
            else:  # a concurrent retry stored it first
                authorization = _replayed(await uow.authorizations.get(auth_id), ask)
            await uow.commit()
        await self._watches.after_change(ask.customer_id, deadline, customer=now.customer)
        return authorization

    async def capture(
        self, authorization_id: str, quantity: Decimal | None, deadline: Deadline
    ) -> UsageAuthorization:
        """R-4: record the actual usage once and end the reservation."""
        async with self._billing.database.unit_of_work() as uow:
            found = await uow.authorizations.get(authorization_id)
        amount = None
        if quantity is not None and found.status not in (
            AuthorizationStatus.CAPTURING,
            AuthorizationStatus.CAPTURED,
        ):
            amount = await self._rated_now(found, quantity, deadline)
        async with self._billing.database.unit_of_work() as uow:
            current = await uow.authorizations.get(authorization_id, for_update=True)
            started = begin_capture(current, quantity, amount)
            if started.status is AuthorizationStatus.CAPTURED:
                return started
            if started is not current:
                moment = await now_for(uow, self._billing.clock, current.test_clock_id)
                started = dataclasses.replace(started, end_time=moment)
                await uow.authorizations.save(started, self._billing.clock.now())
                await uow.commit()
        captured = await self._complete_capture(started, deadline)
        await self._watches.after_change(captured.customer_id, deadline)
        return captured

    async def release(self, authorization_id: str, deadline: Deadline) -> UsageAuthorization:
        """R-4: end it without usage; releasing again (or an expired one) changes nothing,
        but the reservation's end is asked for again, so a release cut short completes."""
        async with self._billing.database.unit_of_work() as uow:
            current = await uow.authorizations.get(authorization_id, for_update=True)
            released = release(current, await now_for(uow, self._billing.clock, current.test_clock_id))
            if released is not current:
                await uow.authorizations.save(released, self._billing.clock.now())
                _record(uow, types.USAGE_AUTHORIZATION_RELEASED, released)
                await uow.commit()
        if released.status is AuthorizationStatus.RELEASED and released.reserves:
            await self._billing.downstream.credits.end_reservation(
                released.id, released.customer_id, deadline
            )
            await self._watches.after_change(released.customer_id, deadline)
        return released

    async def get(self, authorization_id: str) -> UsageAuthorization:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.authorizations.get(authorization_id)

    async def list(
        self, customer_id: str, status: AuthorizationStatus | None, after: Sequence[Any] | None, limit: int
    ) -> list[UsageAuthorization]:
        async with self._billing.database.unit_of_work() as uow:
            await uow.customers.get(customer_id)
            return await uow.authorizations.list(customer_id, status, after, limit)

    async def expire_due(self, now: datetime, *, test_clock_id: str | None = None) -> int:
        """R-4: authorizations past their expiry at ``now`` (wall-clock customers, or one test
        clock's) become EXPIRED, each with its event. Credits stops counting a reservation at
        the same moment by itself, so nothing is asked of it."""
        expired_count = 0
        while True:
            async with self._billing.database.unit_of_work() as uow:
                expired = await uow.authorizations.expire_due(now, test_clock_id=test_clock_id)
                for authorization in expired:
                    _record(uow, types.USAGE_AUTHORIZATION_EXPIRED, authorization)
                await uow.commit()
            expired_count += len(expired)
            if len(expired) < 1000:
                return expired_count

    async def complete_stuck_captures(self, older_than: timedelta) -> int:
        """Complete the captures cut short (their process died, or a peer was down)."""
        async with self._billing.database.unit_of_work() as uow:
            stuck = await uow.authorizations.stuck_captures(self._billing.clock.now() - older_than)
        for authorization_id in stuck:
            async with self._billing.database.unit_of_work() as uow:
                current = await uow.authorizations.get(authorization_id)
            if current.status is AuthorizationStatus.CAPTURING:
                await self._complete_capture(current, NO_DEADLINE)
        return len(stuck)

    async def _complete_capture(self, started: UsageAuthorization, deadline: Deadline) -> UsageAuthorization:
        assert started.captured_quantity is not None and started.end_time is not None
        await self._billing.downstream.metering.record_usage(
            started.meter_id,
            started.id,
            started.customer_id,
            started.captured_quantity,
            started.end_time,
            deadline,
        )
        if started.reserves:
            await self._billing.downstream.credits.end_reservation(started.id, started.customer_id, deadline)
        async with self._billing.database.unit_of_work() as uow:
            current = await uow.authorizations.get(started.id, for_update=True)
            if current.status is not AuthorizationStatus.CAPTURING:  # completed meanwhile
                return current
            captured = dataclasses.replace(current, status=AuthorizationStatus.CAPTURED)
            await uow.authorizations.save(captured, self._billing.clock.now())
            _record(uow, types.USAGE_AUTHORIZATION_CAPTURED, captured)
            await uow.commit()
        return captured

    async def _rated_now(
        self, authorization: UsageAuthorization, quantity: Decimal, deadline: Deadline
    ) -> Money:
        """``quantity`` rated on top of the period's usage so far, with the customer's
        subscription item for the authorization's price (the authorized amount's rate when
        the subscription has ended since)."""
        now = await self._spending.customer_now(authorization.customer_id)
        try:
            item = _item_for(now, _price_ask(authorization))
        except FailedPrecondition:  # no subscription bills the price any more
            authorized = authorization.authorized_amount
            if not authorization.authorized_quantity:
                return authorized
            rate = Decimal(authorized.minor) / authorization.authorized_quantity
            return Money(authorized.currency, round_minor(rate * quantity))
        unbilled = await self._spending.unbilled(now, deadline)
        return rated_on_top(item.price, unbilled.usage_by_item.get(item.id, Decimal(0)), quantity)


def _price_ask(authorization: UsageAuthorization) -> UsageAsk:
    return UsageAsk(authorization.customer_id, authorization.price_id, "", None, None, timedelta(0), "")


def _item_for(now: CustomerNow, ask: UsageAsk) -> SubscriptionItem:
    """The customer's active metered subscription item for the price (or meter): the first
    by subscription creation. None: FAILED_PRECONDITION NO_SUBSCRIPTION_ITEM."""
    for subscription in sorted(now.subscriptions, key=lambda s: (s.create_time, s.id)):
        for item in subscription.items:
            if item.price.usage_type is not UsageType.METERED:
                continue
            if (ask.price_id and item.price_id == ask.price_id) or (
                ask.meter_id and item.price.meter_id == ask.meter_id
            ):
                return item
    wanted = {"price_id": ask.price_id} if ask.price_id else {"meter_id": ask.meter_id}
    raise FailedPrecondition(
        f"customer {ask.customer_id} has no active subscription with a metered item for "
        f"{ask.price_id or ask.meter_id}",
        reason=reasons.NO_SUBSCRIPTION_ITEM,
        metadata={"customer_id": ask.customer_id, **wanted},
    )


def _replayed(earlier: UsageAuthorization, ask: UsageAsk) -> UsageAuthorization:
    if earlier.customer_id != ask.customer_id or earlier.request_fingerprint != ask.fingerprint():
        raise AlreadyExists(
            f"request_id {ask.request_id!r} was used for another authorization",
            reason=reasons.REQUEST_ID_REUSED,
        )
    return earlier


def _record(uow: InvoicingUnit, event_type: str, authorization: UsageAuthorization) -> None:
    uow.outbox.record(
        event_type,
        authorization,
        customer_id=authorization.customer_id,
        test_clock_id=authorization.test_clock_id or "",
    )
