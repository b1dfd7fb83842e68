"""Customers, test clocks' lifecycle and the live balance (I-1, I-16, I-17)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from drawdown import ids
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import Money, validate_currency
from invoicing_service.domain.customers import validate_customer, validate_metadata, validate_text
from invoicing_service.domain.periods import usage_so_far
from invoicing_service.domain.prices import UsageType
from invoicing_service.domain.subscriptions import validate_grace_period
from invoicing_service.service.billing import Billing, Caller
from invoicing_service.store.billing import SubscriptionStore
from invoicing_service.store.customers import CustomerStore, TestClockStore
from invoicing_service.store.records import CustomerRecord, TestClockRecord

MAX_CLOCK_NAME_LENGTH = 300
UPDATABLE_CUSTOMER_PATHS = ("name", "email", "metadata", "invoice_settings.grace_period", "invoice_settings")


@dataclass(frozen=True)
class NewCustomer:
    name: str
    email: str
    metadata: Mapping[str, str]
    test_clock_id: str | None
    grace_period: timedelta | None


@dataclass(frozen=True)
class LiveBalance:
    """One currency of a customer's live balance (I-17)."""

    available_credits: Money
    unbilled_usage: Money

    @property
    def live_balance(self) -> Money:
        return self.available_credits - self.unbilled_usage


def check_clock_at_rest(clock: TestClockRecord) -> None:
    """Writes touching a clock's customers wait until an advance has ended (I-16)."""
    if clock.status == "advancing":
        raise FailedPrecondition(
            f"test clock {clock.id} is being advanced",
            reason="TEST_CLOCK_ADVANCING",
            metadata={"id": clock.id},
        )


class CustomerUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create(self, session: AsyncSession, new: NewCustomer) -> CustomerRecord:
        """A customer, on the wall clock or a test clock fixed for life (I-1, I-16)."""
        validate_customer(new.name, new.email)
        metadata = validate_metadata(new.metadata, "customer.metadata")
        grace = grace_period_setting(new.grace_period, "customer.invoice_settings.grace_period")
        now = self._billing.clock.now()
        if new.test_clock_id:
            clock = await TestClockStore(session).get(new.test_clock_id, for_update=True)
            check_clock_at_rest(clock)
            now = clock.frozen_time
        record = CustomerRecord(
            id=ids.new_id(ids.CUSTOMER),
            name=new.name,
            email=new.email,
            metadata=metadata,
            test_clock_id=new.test_clock_id or None,
            grace_period=grace,
            create_time=now,
            update_time=now,
        )
        await CustomerStore(session).insert(record)
        return record

    async def get(self, customer_id: str) -> CustomerRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await CustomerStore(uow.session).get(customer_id)

    async def list(
        self, *, email: str, test_clock_id: str, after: Sequence[Any] | None, limit: int
    ) -> list[CustomerRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await CustomerStore(uow.session).list(
                email=email, test_clock_id=test_clock_id, after=after, limit=limit
            )

    async def update(
        self, session: AsyncSession, customer_id: str, paths: Sequence[str], changes: NewCustomer
    ) -> CustomerRecord:
        """Change name, email, metadata or grace period; anything else is immutable (I-1)."""
        if not paths:
            raise InvalidArgument.for_field("update_mask", "must name at least one field")
        values: dict[str, Any] = {}
        for path in paths:
            if path in ("name", "email"):
                values[path] = getattr(changes, path)
            elif path == "metadata":
                values["metadata"] = validate_metadata(changes.metadata, "customer.metadata")
            elif path in ("invoice_settings", "invoice_settings.grace_period"):
                values["grace_period"] = grace_period_setting(
                    changes.grace_period, "customer.invoice_settings.grace_period"
                )
            elif path in ("id", "test_clock_id", "create_time", "update_time"):
                raise InvalidArgument.for_field(
                    f"customer.{path}", "cannot be changed", reason="IMMUTABLE_FIELD"
                )
            else:
                raise InvalidArgument.for_field("update_mask", f"unknown path {path!r}")
        store = CustomerStore(session)
        current = await store.get(customer_id, for_update=True)
        validate_customer(values.get("name", current.name), values.get("email", current.email))
        now = await self._billing.now_for(session, current.test_clock_id)
        return await store.update(customer_id, values, now)

    async def live_balance(
        self, customer_id: str, currency: str, caller: Caller
    ) -> tuple[datetime, list[tuple[str, LiveBalance]]]:
        """Available credits minus the rated usage not yet on an invoice, per currency (I-17)."""
        if currency:
            validate_currency(currency, "currency")
        async with self._billing.database.unit_of_work() as uow:
            customer = await CustomerStore(uow.session).get(customer_id)
            as_of = await self._billing.now_for(uow.session, customer.test_clock_id)
            unbilled: dict[str, int] = {}
            for subscription in await SubscriptionStore(uow.session).active_of_customer(customer_id):
                metered = [i for i in subscription.items if i.price.usage_type is UsageType.METERED]
                unbilled.setdefault(subscription.currency, 0)
                if not metered:
                    continue
                lines = await self._billing.subscription_lines(
                    uow.session,
                    subscription,
                    metered,
                    usage_period=usage_so_far(subscription.current_period, as_of),
                    advance_period=None,
                    caller=caller,
                )
                unbilled[subscription.currency] += sum(stored.line.amount.minor for stored in lines)
        available = {
            m.currency: m.minor
            for m in await self._billing.downstream.available_credits(customer_id, as_of, caller)
        }
        currencies = sorted((set(unbilled) | set(available)) if not currency else {currency})
        return as_of, [
            (c, LiveBalance(Money(c, available.get(c, 0)), Money(c, unbilled.get(c, 0)))) for c in currencies
        ]


class TestClockUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create(self, session: AsyncSession, name: str, frozen_time: datetime | None) -> TestClockRecord:
        """A clock standing at ``frozen_time`` (default now) until advanced (I-16)."""
        validate_text(name, "test_clock.name", MAX_CLOCK_NAME_LENGTH)
        now = self._billing.clock.now()
        record = TestClockRecord(ids.new_id(ids.TEST_CLOCK), name, frozen_time or now, "ready", now, now)
        await TestClockStore(session).insert(record)
        return record

    async def get(self, clock_id: str) -> TestClockRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await TestClockStore(uow.session).get(clock_id)

    async def list(self, after: Sequence[Any] | None, limit: int) -> list[TestClockRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await TestClockStore(uow.session).list(after, limit)

    async def delete(self, session: AsyncSession, clock_id: str) -> TestClockRecord:
        """Delete the clock with its customers, subscriptions and invoices (I-16)."""
        store = TestClockStore(session)
        clock = await store.get(clock_id, for_update=True)
        check_clock_at_rest(clock)
        await store.delete(clock_id, self._billing.clock.now())
        return clock


def grace_period_setting(grace_period: timedelta | None, field: str) -> timedelta:
    """The grace period a request sets (I-11), its errors naming the request ``field``."""
    try:
        return validate_grace_period(grace_period)
    except InvalidArgument as error:
        reason = error.reason if error.reason == "GRACE_PERIOD_TOO_LONG" else "INVALID_ARGUMENT"
        raise InvalidArgument.for_field(field, error.field_violations[0].description, reason=reason) from None
