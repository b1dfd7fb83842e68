"""Builders for invoicing API tests on the real suite: invoicing, metering and credits on
loopback (``tests.support.harness.start_suite``), with fault interceptors in front of
metering and credits, a frozen suite clock, a Hypernian catalog, customers on clocks.

Usage goes through the real metering API and grants through the real credits API; what a
test asserts about credits it reads back from the credits ledger.

The fault interceptors (``PeerFaults``, ``tests.support.faults.Faults`` with a status code
of choice) also record what invoicing told the peers' TestClockTimeService (I-18), and can
make a peer answer it as a server without it would (UNIMPLEMENTED).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import grpc
from google.type import money_pb2
from opentelemetry import trace

from drawdown import suite as suite_definitions
from drawdown.clock import FrozenClock
from drawdown.config import Settings
from drawdown.credits.v1 import (
    credit_balance_pb2,
    credit_balance_service_pb2,
    credit_balance_service_pb2_grpc,
    credit_grant_pb2,
    credit_grant_service_pb2,
    credit_grant_service_pb2_grpc,
)
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    price_pb2,
    product_pb2,
    subscription_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    test_clock_pb2,
    test_clock_service_pb2,
    test_clock_service_pb2_grpc,
)
from drawdown.metering.v1 import (
    meter_event_pb2,
    meter_event_service_pb2,
    meter_event_service_pb2_grpc,
    meter_pb2,
    meter_service_pb2,
    meter_service_pb2_grpc,
)
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.rpc.server import RunningServer, start_server
from tests.support.faults import Faults
from tests.support.harness import Suite, bearer, start_suite

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEDGER_HORIZON = datetime(2031, 1, 1, tzinfo=UTC)

APPLIED = credit_balance_pb2.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_APPLIED

_names = itertools.count(1)


def method(name: str) -> str:
    """The full path of ``Service/Method`` as ``Faults.served`` / ``Faults.failed`` key it."""
    service, rpc = name.split("/")
    package = "metering" if service.startswith("Meter") else "credits"
    return f"/drawdown.{package}.v1.{service}/{rpc}"


@dataclass
class _Rule:
    when: Literal["before", "after"]
    remaining: int
    code: grpc.StatusCode


class PeerFaults(Faults):
    """``Faults`` for one peer (``metering`` or ``credits``) whose injected failures carry
    the status code asked for (UNAVAILABLE unless told), and that answers
    TestClockTimeService UNIMPLEMENTED when ``unimplemented`` is set, as a server of an
    earlier version would. ``clock_times`` lists
    every TestClockTimeService request the peer served, as (method name, request), and
    ``served_order`` the name of every method served, in order."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package
        self.unimplemented = False
        self.clock_times: list[tuple[str, Any]] = []
        self.served_order: list[str] = []  # every method served, in order, by name
        self._coded: dict[str, list[_Rule]] = defaultdict(list)
        self._service = f"/drawdown.{package}.v1.TestClockTimeService/"

    def path(self, method: str) -> str:
        return method if method.startswith("/") else f"/drawdown.{self.package}.v1.{method}"

    def fail(
        self,
        method: str,
        *,
        when: Literal["before", "after"],
        times: int = 1,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (``Service/Method`` or full path)."""
        self._coded[self.path(method)].append(_Rule(when, times, code))

    def clear(self) -> None:
        self._coded.clear()

    def set_requests(self) -> list[Any]:
        return [request for name, request in self.clock_times if name == "SetTestClockTime"]

    def delete_requests(self) -> list[Any]:
        return [request for name, request in self.clock_times if name == "DeleteTestClockTime"]

    def _take_rule(self, method: str) -> _Rule | None:
        for rule in self._coded.get(method, []):
            if rule.remaining > 0:
                rule.remaining -= 1
                return rule
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if self.unimplemented and method.startswith(self._service):
            return None  # gRPC answers UNIMPLEMENTED for a method no handler serves
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            rule = self._take_rule(method)
            if rule is not None and rule.when == "before":
                self.failed[method] += 1
                await context.abort(rule.code, "injected fault before the call was served")
            response = await inner(request, context)
            self.served[method] += 1
            self.served_order.append(method.rsplit("/", 1)[-1])
            if method.startswith(self._service):
                self.clock_times.append((method.removeprefix(self._service), request))
            if rule is not None:
                self.failed[method] += 1
                await context.abort(rule.code, "injected fault after the call was served")
            return response

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class Invoicing:
    """The real suite seen from an invoicing test: stubs on the three services, an admin
    key, the suite's frozen clock and the fault interceptors of metering and credits
    (none of these on a wall-clock suite, ``Invoicing(suite)``).

    Metering validates event timestamps against the customer's clock, its test clock or
    else the suite clock (at most 35 days old, at most 5 minutes ahead), so :meth:`record`
    moves that clock forward to the event's time when it lags behind; never back.
    """

    suite: Suite
    clock: FrozenClock | None = None
    metering_faults: PeerFaults | None = None
    credits_faults: PeerFaults | None = None
    replicas: list[RunningServer] = field(default_factory=list)
    event_names: dict[str, str] = field(default_factory=dict)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.suite.admin_key)

    @property
    def database_url(self) -> str:
        return self.suite.database_url

    @property
    def settings(self) -> Settings:
        """The invoicing server's settings: the real peers' addresses and the service key."""
        return self.suite.servers["invoicing"].context.settings

    @property
    def customers(self) -> customer_service_pb2_grpc.CustomerServiceStub:
        return customer_service_pb2_grpc.CustomerServiceStub(self.suite.channel("invoicing"))

    @property
    def catalog(self) -> catalog_service_pb2_grpc.CatalogServiceStub:
        return catalog_service_pb2_grpc.CatalogServiceStub(self.suite.channel("invoicing"))

    @property
    def subscriptions(self) -> subscription_service_pb2_grpc.SubscriptionServiceStub:
        return subscription_service_pb2_grpc.SubscriptionServiceStub(self.suite.channel("invoicing"))

    @property
    def invoices(self) -> invoice_service_pb2_grpc.InvoiceServiceStub:
        return invoice_service_pb2_grpc.InvoiceServiceStub(self.suite.channel("invoicing"))

    @property
    def clocks(self) -> test_clock_service_pb2_grpc.TestClockServiceStub:
        return test_clock_service_pb2_grpc.TestClockServiceStub(self.suite.channel("invoicing"))

    @property
    def meters(self) -> meter_service_pb2_grpc.MeterServiceStub:
        return meter_service_pb2_grpc.MeterServiceStub(self.suite.channel("metering"))

    @property
    def events(self) -> meter_event_service_pb2_grpc.MeterEventServiceStub:
        return meter_event_service_pb2_grpc.MeterEventServiceStub(self.suite.channel("metering"))

    @property
    def grants(self) -> credit_grant_service_pb2_grpc.CreditGrantServiceStub:
        return credit_grant_service_pb2_grpc.CreditGrantServiceStub(self.suite.channel("credits"))

    @property
    def balances(self) -> credit_balance_service_pb2_grpc.CreditBalanceServiceStub:
        return credit_balance_service_pb2_grpc.CreditBalanceServiceStub(self.suite.channel("credits"))

    # -- metering -------------------------------------------------------------------------

    async def meter(self, active: bool = True) -> str:
        """A new sum meter on the real metering service (deactivated when ``active`` is false)."""
        event_name = f"tokens_{next(_names)}"
        reply = await self.meters.CreateMeter(
            meter_service_pb2.CreateMeterRequest(
                meter=meter_pb2.Meter(
                    display_name=event_name,
                    event_name=event_name,
                    aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                )
            ),
            metadata=self.metadata,
        )
        meter_id = reply.meter.id
        self.event_names[meter_id] = event_name
        if not active:
            await self.meters.DeactivateMeter(
                meter_service_pb2.DeactivateMeterRequest(meter_id=meter_id), metadata=self.metadata
            )
        return meter_id

    async def record(
        self, meter_id: str, customer_id: str, at: datetime, value: str | int, identifier: str = ""
    ) -> None:
        """Send one usage event at ``at`` to the real metering service.

        Metering judges a customer's events by its test clock (I-18) if it lives on one,
        else by the wall clock: whichever it is, it is moved forward to ``at`` first when it
        lags behind (an advance runs the billing actions due until then), never back.
        """
        customer = await self.customers.GetCustomer(
            customer_service_pb2.GetCustomerRequest(id=customer_id), metadata=self.metadata
        )
        clock_id = customer.customer.test_clock_id
        if clock_id:
            clock = await self.clocks.GetTestClock(
                test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=self.metadata
            )
            if clock.test_clock.frozen_time.ToDatetime(tzinfo=UTC) < at:
                await self.clocks.AdvanceTestClock(
                    test_clock_service_pb2.AdvanceTestClockRequest(
                        id=clock_id, frozen_time=timestamp_to_proto(at)
                    ),
                    metadata=self.metadata,
                )
        elif self.clock is not None and self.clock.now() < at:
            self.clock.set(at)
        await self.events.CreateMeterEvent(
            meter_event_service_pb2.CreateMeterEventRequest(
                meter_event=meter_event_pb2.MeterEvent(
                    event_name=self.event_names[meter_id],
                    payload={"customer_id": customer_id, "value": str(value)},
                    timestamp=timestamp_to_proto(at),
                    identifier=identifier,
                )
            ),
            metadata=self.metadata,
        )

    # -- credits --------------------------------------------------------------------------

    async def grant(
        self,
        customer_id: str,
        cents: int,
        *,
        effective: datetime = T0,
        expire: datetime | None = None,
        price_ids: tuple[str, ...] = (),
    ) -> str:
        """A paid grant of ``cents`` USD on the real credits service, for metered prices
        (or only ``price_ids``)."""
        applicability = (
            credit_grant_pb2.ApplicabilityConfig(
                prices=credit_grant_pb2.ApplicabilityPrices(price_ids=price_ids)
            )
            if price_ids
            else credit_grant_pb2.ApplicabilityConfig(price_type=credit_grant_pb2.PRICE_TYPE_METERED)
        )
        grant = credit_grant_pb2.CreditGrant(
            customer_id=customer_id,
            amount=money_pb2.Money(currency_code="USD", units=cents // 100, nanos=(cents % 100) * 10_000_000),
            name="Hypernian credits",
            category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
            applicability_config=applicability,
            effective_time=timestamp_to_proto(effective),
        )
        if expire is not None:
            grant.expire_time.CopyFrom(timestamp_to_proto(expire))
        reply = await self.grants.CreateCreditGrant(
            credit_grant_service_pb2.CreateCreditGrantRequest(credit_grant=grant), metadata=self.metadata
        )
        return reply.credit_grant.id

    async def grant_balance(
        self, customer_id: str, grant_id: str, as_of: datetime = LEDGER_HORIZON
    ) -> tuple[int, int]:
        """(ledger, available) of one grant in cents, read from the credits service.

        Postings are dated at the invoice's time (a test clock's, ahead of the suite clock),
        so by default the balance is read as of ``LEDGER_HORIZON``: after every posting."""
        reply = await self.balances.GetCreditBalanceSummary(
            credit_balance_service_pb2.GetCreditBalanceSummaryRequest(
                customer_id=customer_id, credit_grant_id=grant_id, as_of=timestamp_to_proto(as_of)
            ),
            metadata=self.metadata,
        )
        balances = reply.credit_balance_summary.balances
        if not balances:
            return 0, 0
        (balance,) = balances
        return minor(balance.ledger_balance), minor(balance.available_balance)

    async def ledger(self, customer_id: str, grant_id: str) -> int:
        return (await self.grant_balance(customer_id, grant_id))[0]

    async def available(self, customer_id: str, grant_id: str) -> int:
        return (await self.grant_balance(customer_id, grant_id))[1]

    async def transactions(self, customer_id: str) -> list[credit_balance_pb2.CreditBalanceTransaction]:
        """Every credit balance transaction of the customer, from the credits ledger."""
        found, token = [], ""
        while True:
            reply = await self.balances.ListCreditBalanceTransactions(
                credit_balance_service_pb2.ListCreditBalanceTransactionsRequest(
                    customer_id=customer_id, page_size=100, page_token=token
                ),
                metadata=self.metadata,
            )
            found += list(reply.credit_balance_transactions)
            token = reply.next_page_token
            if not token:
                return found

    async def draws(self, customer_id: str) -> dict[str, int]:
        """Per invoice, how many draws the ledger holds: distinct credits_applied postings per
        (invoice, line, grant) — exactly one for an invoice drawn once, whatever the retries."""
        per_invoice: dict[str, list[tuple[str, str]]] = {}
        for transaction in await self.transactions(customer_id):
            if transaction.HasField("debit") and transaction.debit.type == APPLIED:
                key = (transaction.debit.invoice_line_id, transaction.credit_grant_id)
                per_invoice.setdefault(transaction.debit.invoice_id, []).append(key)
        return {invoice_id: max(keys.count(k) for k in keys) for invoice_id, keys in per_invoice.items()}

    async def grants_of(self, customer_id: str) -> list[credit_grant_pb2.CreditGrant]:
        reply = await self.grants.ListCreditGrants(
            credit_grant_service_pb2.ListCreditGrantsRequest(customer_id=customer_id, page_size=100),
            metadata=self.metadata,
        )
        return list(reply.credit_grants)

    # -- replicas -------------------------------------------------------------------------

    async def add_replica(self, **settings: object) -> RunningServer:
        """Another invoicing server on the same database, peers, service key and clock,
        with ``settings`` changed (e.g. ``db_pool_size``)."""
        replica = await start_server(
            suite_definitions.definition("invoicing"),
            self.settings.model_copy(update=settings),
            self.database_url,
            port=0,
            clock=self.clock,
        )
        self.replicas.append(replica)
        return replica


@asynccontextmanager
async def invoicing_on_real_peers(
    database_url: str,
    *,
    clock: FrozenClock | None = None,
    replicas: int = 1,
    tracer_providers: dict[str, trace.TracerProvider] | None = None,
) -> AsyncIterator[Invoicing]:
    """The three real services on 127.0.0.1 port 0 (plus ``replicas - 1`` more invoicing
    servers), metering and credits behind fault interceptors, on a frozen clock (T0 unless
    given), their spans to ``tracer_providers`` (by service) where given."""
    clock = clock or FrozenClock(T0)
    metering_faults, credits_faults = PeerFaults("metering"), PeerFaults("credits")
    async with start_suite(
        database_url,
        clock=clock,
        faults={"metering": metering_faults, "credits": credits_faults},
        tracer_providers=tracer_providers,
    ) as suite:
        invoicing = Invoicing(suite, clock, metering_faults, credits_faults)
        try:
            for _ in range(replicas - 1):
                await invoicing.add_replica()
            yield invoicing
        finally:
            for replica in invoicing.replicas:
                await replica.stop(grace=1)


@dataclass
class Hypernian:
    """Meters and prices of the running example (docs/behaviour.md): 3 ¢ per input, 5 ¢ per output token."""

    input_meter: str
    output_meter: str
    input_price: str
    output_price: str


async def hypernian_catalog(invoicing: Invoicing, input_meter: str, output_meter: str) -> Hypernian:
    prices = []
    for meter_id, unit in ((input_meter, "3"), (output_meter, "5")):
        product = await invoicing.catalog.CreateProduct(
            catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name=f"tokens {unit}c")),
            metadata=invoicing.metadata,
        )
        price = await invoicing.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(
                price=price_pb2.Price(
                    product_id=product.product.id,
                    currency="USD",
                    type=price_pb2.PRICE_TYPE_METERED,
                    recurring=price_pb2.Recurring(
                        interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1
                    ),
                    meter_id=meter_id,
                    unit_amount_decimal={"value": unit},
                )
            ),
            metadata=invoicing.metadata,
        )
        prices.append(price.price.id)
    return Hypernian(input_meter, output_meter, prices[0], prices[1])


async def licensed_price(
    invoicing: Invoicing, unit: str = "1000", interval=price_pb2.RECURRING_INTERVAL_MONTH
) -> str:
    product = await invoicing.catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="seats")),
        metadata=invoicing.metadata,
    )
    price = await invoicing.catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(
            price=price_pb2.Price(
                product_id=product.product.id,
                currency="USD",
                type=price_pb2.PRICE_TYPE_LICENSED,
                recurring=price_pb2.Recurring(interval=interval, interval_count=1),
                unit_amount_decimal={"value": unit},
            )
        ),
        metadata=invoicing.metadata,
    )
    return price.price.id


async def metered_price(invoicing: Invoicing, meter_id: str, *, interval=None, **fields) -> str:
    """A USD metered price on ``meter_id`` (monthly unless ``interval``), other fields as given
    (3 minor units a unit unless tiered or given)."""
    if "billing_scheme" not in fields:
        fields.setdefault("unit_amount_decimal", {"value": "3"})
    product = await invoicing.catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="metered")),
        metadata=invoicing.metadata,
    )
    reply = await invoicing.catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(
            price=price_pb2.Price(
                product_id=product.product.id,
                currency="USD",
                type=price_pb2.PRICE_TYPE_METERED,
                recurring=price_pb2.Recurring(
                    interval=interval or price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1
                ),
                meter_id=meter_id,
                **fields,
            )
        ),
        metadata=invoicing.metadata,
    )
    return reply.price.id


async def clock_at(invoicing: Invoicing, at: datetime = T0) -> str:
    reply = await invoicing.clocks.CreateTestClock(
        test_clock_service_pb2.CreateTestClockRequest(
            test_clock=test_clock_pb2.TestClock(name="test", frozen_time=timestamp_to_proto(at))
        ),
        metadata=invoicing.metadata,
    )
    return reply.test_clock.id


async def customer(invoicing: Invoicing, clock_id: str = "", name: str = "Jenny Rosen") -> str:
    reply = await invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(name=name, test_clock_id=clock_id)
        ),
        metadata=invoicing.metadata,
    )
    return reply.customer.id


async def subscribe(
    invoicing: Invoicing, customer_id: str, *price_ids: str, quantity: int | None = None
) -> subscription_service_pb2.CreateSubscriptionResponse:
    items = [subscription_pb2.SubscriptionItem(price_id=p, quantity=quantity) for p in price_ids]
    return await invoicing.subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            subscription=subscription_pb2.Subscription(customer_id=customer_id, items=items)
        ),
        metadata=invoicing.metadata,
    )


async def past_grace(invoicing: Invoicing, subscriptions) -> datetime:
    """One second after the last of ``subscriptions``' current periods ends and its grace
    period passes (the customer's, I-11): the first moment every draft is due to finalize.
    Tests move clocks by this, never by a number of days, so they hold in months of any
    length."""
    due = []
    for subscription in subscriptions:
        reply = await invoicing.customers.GetCustomer(
            customer_service_pb2.GetCustomerRequest(id=subscription.customer_id), metadata=invoicing.metadata
        )
        grace = reply.customer.invoice_settings.grace_period.ToTimedelta()
        if subscription.invoice_settings.HasField("grace_period"):
            grace = subscription.invoice_settings.grace_period.ToTimedelta()
        due.append(subscription.current_period_end.ToDatetime(tzinfo=UTC) + grace)
    return max(due) + timedelta(seconds=1)


async def advance(invoicing: Invoicing, clock_id: str, to: datetime) -> None:
    await invoicing.clocks.AdvanceTestClock(
        test_clock_service_pb2.AdvanceTestClockRequest(id=clock_id, frozen_time=timestamp_to_proto(to)),
        metadata=invoicing.metadata,
    )


async def invoices_of(invoicing: Invoicing, customer_id: str) -> list:
    """The customer's invoices, oldest first."""
    reply = await invoicing.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=customer_id, page_size=100),
        metadata=invoicing.metadata,
    )
    return list(reversed(reply.invoices))


def minor(money) -> int:
    """A USD google.type.Money in cents."""
    return money.units * 100 + money.nanos // 10_000_000
