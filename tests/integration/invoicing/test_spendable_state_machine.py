"""Random authorize / capture (more, less, exact, without a quantity) / release / expiry /
direct usage / overdraft / period close and finalization sequences through the real suite:
after every step the spendable balance (R-2) equals a naive recomputation from what the
test did, authorizations never take it below minus the overdraft allowance (R-3), and no
grant's balance is negative (C-23). The customer has an auto top-up collected ``open``
(its purchases leave the balance as it is): it never buys more than once per run of steps
that end below its threshold, nor beyond its monthly cap (R-6).

One customer per example, on a test clock of its own; one suite for the whole test.
Prices are per unit (3 ¢ an input token, 5 ¢ an output token), so the model rates by
multiplication; tiers are covered by the API tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from google.protobuf import duration_pb2
from google.type import decimal_pb2
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from drawdown.invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    subscription_service_pb2,
    test_clock_service_pb2,
)
from drawdown.invoicing.v1 import usage_authorization_service_pb2 as pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc as authorization_grpc
from drawdown.money import Money
from drawdown.rpc.convert import money_to_proto, timestamp_to_proto
from tests.integration.credits.credit_api_builders import error_metadata, minor, reason
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Hypernian,
    Invoicing,
    clock_at,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    subscribe,
)
from tests.integration.invoicing.test_usage_authorizations_api import usd

T = TypeVar("T")
RATES = {"input": 3, "output": 5}
GRACE = timedelta(hours=1)  # the default grace period (I-11)


@dataclass
class Authorization:
    id: str
    amount: int
    expire_time: datetime
    status: str = "authorized"  # authorized (active until expire_time) | captured | released
    captured_tokens: int | None = None
    tokens: int = 0
    price: str = "input"


class SpendableMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    invoicing: Invoicing
    catalog: Hypernian

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    @property
    def stub(self) -> authorization_grpc.UsageAuthorizationServiceStub:
        return authorization_grpc.UsageAuthorizationServiceStub(self.invoicing.suite.channel("invoicing"))

    @initialize(
        granted=st.integers(min_value=0, max_value=3000),
        threshold=st.integers(min_value=-500, max_value=2000),
        amount=st.integers(min_value=1, max_value=1000),
        cap=st.integers(min_value=1, max_value=2000),
    )
    def a_customer_with_credits(self, granted: int, threshold: int, amount: int, cap: int) -> None:
        self.now = T0
        self.clock_id = self.run(clock_at(self.invoicing, T0))
        self.customer_id = self.run(customer(self.invoicing, self.clock_id))
        subscription = self.run(
            subscribe(self.invoicing, self.customer_id, self.catalog.input_price, self.catalog.output_price)
        )
        self.period_end = subscription.subscription.current_period_end.ToDatetime(tzinfo=UTC)
        self.available = granted  # credits not yet drawn by an invoice
        if granted:
            self.run(self.invoicing.grant(self.customer_id, granted))
        self.unbilled = 0  # rated usage of the open period
        self.overdraft = 0
        self.authorizations: list[Authorization] = []
        self.top_up = (threshold, amount, cap)
        self.spendable_after_steps: list[int] = []
        self.run(self.set_credit_settings("auto_top_ups", auto_top_ups=[self.auto_top_up()]))

    def auto_top_up(self) -> customer_pb2.AutoTopUp:
        threshold, amount, cap = self.top_up
        return customer_pb2.AutoTopUp(
            threshold=money_to_proto(Money("USD", threshold)),  # may be negative
            amount=usd(amount),
            monthly_cap=usd(cap),
            collection=customer_pb2.AUTO_TOP_UP_COLLECTION_OPEN,
        )

    async def set_credit_settings(self, path: str, **settings) -> None:
        await self.invoicing.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(
                    id=self.customer_id, credit_settings=customer_pb2.CustomerCreditSettings(**settings)
                ),
                update_mask={"paths": [f"credit_settings.{path}"]},
            ),
            metadata=self.invoicing.metadata,
        )

    # -- the model --------------------------------------------------------------------

    def reserved(self) -> int:
        return sum(
            a.amount for a in self.authorizations if a.status == "authorized" and a.expire_time > self.now
        )

    def spendable(self) -> int:
        return self.available - self.unbilled - self.reserved() + self.overdraft

    # -- rules ------------------------------------------------------------------------

    @rule(
        tokens=st.integers(min_value=0, max_value=400),
        price=st.sampled_from(["input", "output"]),
        ttl_minutes=st.integers(min_value=1, max_value=30),
    )
    def authorize(self, tokens: int, price: str, ttl_minutes: int) -> None:
        amount = tokens * RATES[price]
        expected = self.spendable()
        request = pb.AuthorizeUsageRequest(
            customer_id=self.customer_id,
            price_id=self.catalog.input_price if price == "input" else self.catalog.output_price,
            quantity=decimal_pb2.Decimal(value=str(tokens)),
            ttl=duration_pb2.Duration(seconds=ttl_minutes * 60),
        )
        try:
            reply = self.run(self.stub.AuthorizeUsage(request, metadata=self.invoicing.metadata))
        except grpc.aio.AioRpcError as error:
            assert reason(error) == "INSUFFICIENT_CREDITS", error.details()
            assert amount > expected
            assert int(error_metadata(error)["spendable_balance"]) == expected
            return
        assert amount == 0 or amount <= expected, (amount, expected)
        authorization = reply.usage_authorization
        assert minor(authorization.authorized_amount) == amount
        assert minor(authorization.spendable_balance) == expected - amount
        if amount:  # an estimate rating to zero reserves nothing, whatever the balance
            assert minor(authorization.spendable_balance) >= -self.overdraft
        self.authorizations.append(
            Authorization(
                authorization.id,
                amount,
                self.now + timedelta(minutes=ttl_minutes),
                tokens=tokens,
                price=price,
            )
        )

    @rule(data=st.data(), actual=st.one_of(st.none(), st.integers(min_value=0, max_value=500)))
    def capture(self, data: st.DataObject, actual: int | None) -> None:
        if not self.authorizations:
            return
        authorization = data.draw(st.sampled_from(self.authorizations))
        request = pb.CaptureUsageAuthorizationRequest(usage_authorization_id=authorization.id)
        if actual is not None:
            request.quantity.CopyFrom(decimal_pb2.Decimal(value=str(actual)))
        tokens = authorization.tokens if actual is None else actual
        try:
            reply = self.run(self.stub.CaptureUsageAuthorization(request, metadata=self.invoicing.metadata))
        except grpc.aio.AioRpcError as error:
            expected = {"released": "AUTHORIZATION_RELEASED", "captured": "AUTHORIZATION_ALREADY_CAPTURED"}
            assert reason(error) == expected[authorization.status], error.details()
            return
        if authorization.status == "captured":
            assert authorization.captured_tokens == tokens
            return
        assert authorization.status == "authorized"
        cost = tokens * RATES[authorization.price]
        assert minor(reply.usage_authorization.captured_amount) == cost
        assert minor(reply.usage_authorization.overage_amount) == max(0, cost - authorization.amount)
        authorization.status, authorization.captured_tokens = "captured", tokens
        self.unbilled += cost

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.authorizations:
            return
        authorization = data.draw(st.sampled_from(self.authorizations))
        try:
            self.run(
                self.stub.ReleaseUsageAuthorization(
                    pb.ReleaseUsageAuthorizationRequest(usage_authorization_id=authorization.id),
                    metadata=self.invoicing.metadata,
                )
            )
        except grpc.aio.AioRpcError as error:
            assert authorization.status == "captured"
            assert reason(error) == "AUTHORIZATION_ALREADY_CAPTURED"
            return
        if authorization.status == "authorized" and authorization.expire_time > self.now:
            authorization.status = "released"

    @rule(tokens=st.integers(min_value=0, max_value=300), price=st.sampled_from(["input", "output"]))
    def usage_sent_to_metering(self, tokens: int, price: str) -> None:
        meter = self.catalog.input_meter if price == "input" else self.catalog.output_meter
        self.run(self.invoicing.record(meter, self.customer_id, self.now, tokens))
        self.unbilled += tokens * RATES[price]

    @rule(allowance=st.integers(min_value=0, max_value=1000))
    def set_overdraft(self, allowance: int) -> None:
        self.run(self.set_credit_settings("overdraft_allowances", overdraft_allowances=[usd(allowance)]))
        self.overdraft = allowance

    @rule(minutes=st.integers(min_value=1, max_value=20))
    def time_passes(self, minutes: int) -> None:
        """Authorizations past their TTL stop counting (and are marked expired)."""
        moment = self.now + timedelta(minutes=minutes)
        if moment >= self.period_end:
            return
        self.advance(moment)

    @rule()
    def the_period_closes_and_its_invoice_is_finalized(self) -> None:
        """The draft draws what it can from the credits; its usage is no longer unbilled."""
        self.advance(self.period_end + GRACE + timedelta(seconds=1))
        self.available -= min(self.available, self.unbilled)
        self.unbilled = 0
        self.period_end = self.next_period_end()

    def advance(self, moment: datetime) -> None:
        self.run(
            self.invoicing.clocks.AdvanceTestClock(
                test_clock_service_pb2.AdvanceTestClockRequest(
                    id=self.clock_id, frozen_time=timestamp_to_proto(moment)
                ),
                metadata=self.invoicing.metadata,
            )
        )
        self.now = moment

    def next_period_end(self) -> datetime:
        reply = self.run(
            self.invoicing.subscriptions.ListSubscriptions(
                subscription_service_pb2.ListSubscriptionsRequest(customer_id=self.customer_id),
                metadata=self.invoicing.metadata,
            )
        )
        return reply.subscriptions[0].current_period_end.ToDatetime(tzinfo=UTC)

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def spendable_is_exact(self) -> None:
        if not hasattr(self, "customer_id"):
            return
        reply = self.run(
            self.invoicing.customers.GetCustomerLiveBalance(
                customer_service_pb2.GetCustomerLiveBalanceRequest(
                    customer_id=self.customer_id, currency="USD"
                ),
                metadata=self.invoicing.metadata,
            )
        )
        [balance] = reply.live_balance.balances
        assert minor(balance.reserved) == self.reserved()
        assert minor(balance.available_credits) == self.available >= 0
        assert minor(balance.unbilled_usage) == self.unbilled
        assert minor(balance.spendable_balance) == self.spendable()

    @invariant()
    def top_ups_buy_once_per_crossing_within_the_cap(self) -> None:
        """The balance is judged at the end of a step (after an authorization, capture,
        release or advance), so the top-up buys at most once per run of steps that end
        below its threshold: judging at fewer step ends cannot make more runs."""
        if not hasattr(self, "customer_id"):
            return
        threshold, amount, cap = self.top_up
        self.spendable_after_steps.append(self.spendable())
        after = self.spendable_after_steps
        crossings = sum(
            1 for i, s in enumerate(after) if s < threshold and (i == 0 or after[i - 1] >= threshold)
        )
        reply = self.run(
            self.invoicing.invoices.ListInvoices(
                invoice_service_pb2.ListInvoicesRequest(customer_id=self.customer_id, page_size=100),
                metadata=self.invoicing.metadata,
            )
        )
        bought = [i for i in reply.invoices if i.billing_reason == invoice_pb2.BILLING_REASON_CREDIT_PURCHASE]
        assert len(bought) <= crossings, (len(bought), after)
        per_month: dict[tuple[int, int], int] = {}
        for invoice in bought:
            assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
            assert 0 < minor(invoice.total) <= amount
            created = invoice.create_time.ToDatetime(tzinfo=UTC)
            per_month[(created.year, created.month)] = per_month.get(
                (created.year, created.month), 0
            ) + minor(invoice.total)
        assert all(total <= cap for total in per_month.values()), per_month


def test_r2_spendable_is_exact_over_random_sequences(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        SpendableMachine.loop = loop
        invoicing = loop.run_until_complete(stack.enter_async_context(invoicing_on_real_peers(database_url)))
        SpendableMachine.invoicing = invoicing
        SpendableMachine.catalog = loop.run_until_complete(
            hypernian_catalog(
                invoicing,
                loop.run_until_complete(invoicing.meter()),
                loop.run_until_complete(invoicing.meter()),
            )
        )
        run_state_machine_as_test(
            SpendableMachine,
            settings=settings(
                max_examples=15,
                stateful_step_count=12,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(stack.aclose())
        # What the suite left waiting (its pools' and channels' tasks) ends with the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
