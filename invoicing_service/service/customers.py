"""Customers and test clocks' lifecycle (I-1, I-16, I-18); the live balance is ``spending``'s.

A test clock lives in every service (I-18): metering and credits learn a clock's time and
customers from invoicing, which owns clocks. A customer created on a clock is attached to
it in both before CreateCustomer answers, and a deleted clock is forgotten by both before
DeleteTestClock answers; either call fails UNAVAILABLE, changing nothing here, when a peer
cannot be told, so its retry (same request id) completes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drawdown import ids
from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.events import types
from invoicing_service.domain import reasons
from invoicing_service.domain.balance_watches import (
    AutoTopUp,
    BalanceAlert,
    validate_auto_top_ups,
    validate_balance_alerts,
)
from invoicing_service.domain.customers import validate_customer, validate_metadata, validate_text
from invoicing_service.domain.subscriptions import validate_grace_period
from invoicing_service.domain.test_clocks import TestClockStatus, validate_frozen_time
from invoicing_service.service.billing import Billing
from invoicing_service.service.changes import customer_changed
from invoicing_service.service.clocks import now_for
from invoicing_service.store.records import CustomerRecord, TestClockRecord
from invoicing_service.store.unit import InvoicingUnit

MAX_CLOCK_NAME_LENGTH = 300
UPDATABLE_CUSTOMER_PATHS = (
    "name",
    "email",
    "metadata",
    "invoice_settings.grace_period",
    "invoice_settings",
    "credit_settings.overdraft_allowances",
    "credit_settings.auto_top_ups",
    "credit_settings.balance_alerts",
    "credit_settings",
)
_TOP_UPS_FIELD = "customer.credit_settings.auto_top_ups"
_ALERTS_FIELD = "customer.credit_settings.balance_alerts"


@dataclass(frozen=True)
class NewCustomer:
    name: str
    email: str
    metadata: Mapping[str, str]
    test_clock_id: str | None
    grace_period: timedelta | None
    overdraft_allowances: Mapping[str, int] = field(default_factory=dict)
    auto_top_ups: Sequence[AutoTopUp] = ()
    balance_alerts: Sequence[BalanceAlert] = ()


def check_clock_at_rest(clock: TestClockRecord) -> None:
    """Writes touching a clock's customers wait until an advance has ended (I-16)."""
    if clock.status is TestClockStatus.ADVANCING:
        raise FailedPrecondition(
            f"test clock {clock.id} is being advanced",
            reason=reasons.TEST_CLOCK_ADVANCING,
            metadata={"id": clock.id},
        )


class CustomerUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create(
        self, uow: InvoicingUnit, new: NewCustomer, deadline: Deadline = NO_DEADLINE
    ) -> CustomerRecord:
        """A customer, on the wall clock or a test clock fixed for life (I-1, I-16).

        On a test clock, metering and credits are told the clock's time and the customer
        before it is stored (I-18), so that its first events and grants are judged by its
        clock; the clock stays share-locked meanwhile, so no advance starts in between.
        """
        validate_customer(new.name, new.email)
        metadata = validate_metadata(new.metadata, "customer.metadata")
        grace = grace_period_setting(new.grace_period, "customer.invoice_settings.grace_period")
        top_ups = validate_auto_top_ups(list(new.auto_top_ups), _TOP_UPS_FIELD)
        alerts = validate_balance_alerts(list(new.balance_alerts), _ALERTS_FIELD)
        now = self._billing.clock.now()
        customer_id = ids.new_id(ids.CUSTOMER)
        if new.test_clock_id:
            clock = await uow.test_clocks.get(new.test_clock_id, for_share=True)
            check_clock_at_rest(clock)
            now = clock.frozen_time
            await self._billing.downstream.set_test_clock_time(
                clock.id, clock.frozen_time, [customer_id], f"attach:{customer_id}", deadline
            )
        record = CustomerRecord(
            id=customer_id,
            name=new.name,
            email=new.email,
            metadata=metadata,
            test_clock_id=new.test_clock_id or None,
            grace_period=grace,
            create_time=now,
            update_time=now,
            overdraft_allowances=new.overdraft_allowances,
            auto_top_ups=top_ups,
            balance_alerts=alerts,
        )
        await uow.customers.insert(record)
        customer_changed(uow, types.CUSTOMER_CREATED, record)
        return record

    async def get(self, customer_id: str) -> CustomerRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.customers.get(customer_id)

    async def list(
        self, *, email: str, test_clock_id: str, after: Sequence[Any] | None, limit: int
    ) -> list[CustomerRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.customers.list(
                email=email, test_clock_id=test_clock_id, after=after, limit=limit
            )

    async def update(
        self, uow: InvoicingUnit, customer_id: str, paths: Sequence[str], changes: NewCustomer
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
            elif path.startswith("credit_settings") and path in UPDATABLE_CUSTOMER_PATHS:
                values.update(_credit_settings(path, changes))
            elif path in ("id", "test_clock_id", "create_time", "update_time"):
                raise InvalidArgument.for_field(
                    f"customer.{path}", "cannot be changed", reason=reasons.IMMUTABLE_FIELD
                )
            else:
                raise InvalidArgument.for_field("update_mask", f"unknown path {path!r}")
        current = await uow.customers.get(customer_id, for_update=True)
        validate_customer(values.get("name", current.name), values.get("email", current.email))
        now = await now_for(uow, self._billing.clock, current.test_clock_id)
        updated = await uow.customers.update(customer_id, values, now)
        customer_changed(uow, types.CUSTOMER_UPDATED, updated)
        return updated


class TestClockUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create(self, uow: InvoicingUnit, name: str, frozen_time: datetime | None) -> TestClockRecord:
        """A clock standing at ``frozen_time`` (default now) until advanced (I-16), within
        the clock range (INVALID_FROZEN_TIME)."""
        validate_text(name, "test_clock.name", MAX_CLOCK_NAME_LENGTH)
        now = self._billing.clock.now()
        frozen_time = validate_frozen_time(frozen_time or now, "test_clock.frozen_time")
        record = TestClockRecord(
            ids.new_id(ids.TEST_CLOCK), name, frozen_time, TestClockStatus.READY, now, now
        )
        await uow.test_clocks.insert(record)
        return record

    async def get(self, clock_id: str) -> TestClockRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.test_clocks.get(clock_id)

    async def list(self, after: Sequence[Any] | None, limit: int) -> list[TestClockRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.test_clocks.list(after, limit)

    async def delete(
        self, uow: InvoicingUnit, clock_id: str, deadline: Deadline = NO_DEADLINE
    ) -> TestClockRecord:
        """Delete the clock with its customers, subscriptions and invoices (I-16); metering
        and credits forget it first (I-18), the clock locked meanwhile."""
        clock = await uow.test_clocks.get(clock_id, for_update=True)
        check_clock_at_rest(clock)
        await self._billing.downstream.delete_test_clock_time(clock_id, f"forget:{clock_id}", deadline)
        await uow.test_clocks.delete(clock_id, self._billing.clock.now())
        return clock


def _credit_settings(path: str, changes: NewCustomer) -> dict[str, Any]:
    """The columns a ``credit_settings`` path sets: one list, or all three (R-2, R-6, R-7)."""
    values: dict[str, Any] = {}
    if path in ("credit_settings", "credit_settings.overdraft_allowances"):
        values["overdraft_allowances"] = changes.overdraft_allowances
    if path in ("credit_settings", "credit_settings.auto_top_ups"):
        values["auto_top_ups"] = validate_auto_top_ups(list(changes.auto_top_ups), _TOP_UPS_FIELD)
    if path in ("credit_settings", "credit_settings.balance_alerts"):
        values["balance_alerts"] = validate_balance_alerts(list(changes.balance_alerts), _ALERTS_FIELD)
    return values


def grace_period_setting(grace_period: timedelta | None, field: str) -> timedelta:
    """The grace period a request sets (I-11), its errors naming the request ``field``."""
    try:
        return validate_grace_period(grace_period)
    except InvalidArgument as error:
        reason = error.reason if error.reason == reasons.GRACE_PERIOD_TOO_LONG else reasons.INVALID_ARGUMENT
        raise InvalidArgument.for_field(field, error.field_violations[0].description, reason=reason) from None
