"""Evaluating a customer's balance watches: auto top-ups (R-6) and balance alerts (R-7).

An evaluation reads the spendable balance (R-2) and judges every watch of the customer
against it (``domain.balance_watches``). It runs right after each authorization, capture
and release, on every test clock advance for the clock's customers, and periodically in
the scheduler for everyone else (usage sent to metering directly changes the balance
without telling invoicing).

Exactly once per crossing: an evaluation holds the customer's row lock from before it
reads the balance until it commits what it decided (the watches' states, the top-up's
purchase invoice, the events), so evaluations of one customer run one after another and
each reads a balance no older than the previous one's decision. Reading the balance first
and locking afterwards would let a stale reading from before a crossing re-arm a watch
that a later one had just disarmed, and the next evaluation would buy again. The lock is
held over the metering and credits reads for that reason; it is only taken for customers
that have a watch.

A top-up's purchase invoice is written in the same transaction that disarms it, so a
crash leaves either both or neither. Collected ``paid``, the invoice is stored already
paying, and its grant is created after the commit under the invoice id as request id
(I-15), by this evaluation or, if that is cut short, by the recovery sweep.
"""

from __future__ import annotations

import structlog

from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import DomainError
from drawdown.events import types
from drawdown.money import Money
from invoicing_service.adapters.credits import SpendableBalance
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain.balance_watches import (
    ThresholdCrossed,
    WatchState,
    judge_alert,
    judge_top_up,
    month_of,
)
from invoicing_service.domain.invoices import InvoiceState
from invoicing_service.service.billing import Billing
from invoicing_service.service.purchases import PurchaseUseCases
from invoicing_service.service.spending import Spending
from invoicing_service.store.records import CustomerRecord, InvoiceRecord

log = structlog.get_logger("drawdown.invoicing.balance_watches")


class BalanceWatches:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing
        self._spending = Spending(billing)
        self._purchases = PurchaseUseCases(billing)

    async def after_change(
        self, customer_id: str, deadline: Deadline, *, customer: CustomerRecord | None = None
    ) -> None:
        """Evaluate after a change of the customer's balance (``customer`` if already
        read). A failure is logged, not raised: the change itself is made, and the next
        evaluation catches up."""
        try:
            if customer is None:
                async with self._billing.database.unit_of_work() as uow:
                    customer = await uow.customers.get(customer_id)
            if customer.watches_balance:
                await self.evaluate(customer_id, deadline)
        except (DomainError, PeerFailure) as error:
            log.warning("balance_watch.evaluation_failed", customer_id=customer_id, reason=error.reason)

    async def evaluate_all(self, *, test_clock_id: str | None = None) -> int:
        """Evaluate every customer with a watch: on the wall clock and on clocks at rest,
        or on the one ``test_clock_id``. One customer failing does not stop the others."""
        async with self._billing.database.unit_of_work() as uow:
            customer_ids = await uow.customers.watched(test_clock_id)
        for customer_id in customer_ids:
            await self.after_change(customer_id, NO_DEADLINE)
        return len(customer_ids)

    async def evaluate(self, customer_id: str, deadline: Deadline) -> None:
        """Judge every watch of the customer against its spendable balance now (R-6, R-7),
        under the customer's row lock; then complete the purchases paid at once and judge
        again, so that the balance they restored re-arms the watches (a second pass buys
        nothing: a top-up that bought is disarmed until a pass sees it at or above its
        threshold)."""
        paying: list[InvoiceRecord] = []
        async with self._billing.database.unit_of_work() as uow:
            customer = await uow.customers.get(customer_id, for_update=True)
            if not customer.watches_balance:
                return
            now = await self._spending.read_customer_now(uow, customer_id)
            unbilled = await self._spending.unbilled(now, deadline)
            _, balances = await self._billing.downstream.credits.spendable(
                customer_id,
                {c: Money(c, minor) for c, minor in unbilled.amounts.items()},
                now.overdraft_allowances(),
                deadline,
            )
            by_currency = {b.spendable_balance.currency: b for b in balances}
            states = await uow.balance_watches.states(customer_id)
            changed: dict[str, WatchState] = {}
            clock_id = customer.test_clock_id or ""
            for alert in customer.balance_alerts:
                spendable, granted = _balance(by_currency, alert.currency)
                threshold = alert.threshold(granted)
                state = states.get(alert.key, WatchState())
                judged, fired = judge_alert(state, spendable, threshold)
                if judged != state:
                    changed[alert.key] = judged
                if fired:
                    crossed = ThresholdCrossed(customer_id, alert, threshold, spendable, granted, now.as_of)
                    uow.outbox.record(
                        types.CREDIT_BALANCE_THRESHOLD_CROSSED,
                        crossed,
                        customer_id=customer_id,
                        test_clock_id=clock_id,
                    )
            for top_up in customer.auto_top_ups:
                spendable, _ = _balance(by_currency, top_up.currency)
                state = states.get(top_up.key, WatchState())
                judged, bought = judge_top_up(top_up, state, spendable, month_of(now.as_of))
                if judged != state:
                    changed[top_up.key] = judged
                if bought:
                    invoice = await self._purchases.create_auto_top_up(
                        uow, customer, Money(top_up.currency, bought), top_up.collection, now.as_of
                    )
                    uow.outbox.record(
                        types.CREDIT_BALANCE_AUTO_TOP_UP,
                        invoice,
                        customer_id=customer_id,
                        test_clock_id=clock_id,
                    )
                    if invoice.status is InvoiceState.PAYING:
                        paying.append(invoice)
            await uow.balance_watches.save(customer_id, changed, self._billing.clock.now())
            await uow.commit()
        for invoice in paying:
            await self._billing.settlement.grant_and_complete(invoice, deadline, None)
        if paying:  # the grants raised the balance: a top-up back above its threshold re-arms
            await self.evaluate(customer_id, deadline)


def _balance(by_currency: dict[str, SpendableBalance], currency: str) -> tuple[Money, Money]:
    """The spendable balance and what was granted in ``currency`` (zero without either)."""
    found = by_currency.get(currency)
    if found is None:
        return Money.zero(currency), Money.zero(currency)
    return found.spendable_balance, found.granted
