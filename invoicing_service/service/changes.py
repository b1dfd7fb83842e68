"""The events recorded for changes of customers, subscriptions and test clocks (E-1);
an invoice's are recorded by its repository, from its status change."""

from __future__ import annotations

from drawdown.events import types
from invoicing_service.store.records import CustomerRecord, SubscriptionRecord, TestClockRecord
from invoicing_service.store.unit import InvoicingUnit


def customer_changed(uow: InvoicingUnit, event_type: str, customer: CustomerRecord) -> None:
    uow.outbox.record(
        event_type, customer, customer_id=customer.id, test_clock_id=customer.test_clock_id or ""
    )


def subscription_changed(uow: InvoicingUnit, event_type: str, subscription: SubscriptionRecord) -> None:
    uow.outbox.record(
        event_type,
        subscription,
        customer_id=subscription.customer_id,
        test_clock_id=subscription.test_clock_id or "",
    )


def test_clock_ready(uow: InvoicingUnit, clock: TestClockRecord) -> None:
    """An advance of ``clock`` has ended: everything due until its new time is done (I-16)."""
    uow.outbox.record(types.TEST_CLOCK_READY, clock, test_clock_id=clock.id)
