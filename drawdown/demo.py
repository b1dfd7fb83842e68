"""``drawdown demo``: the Hypernian scenario of docs/behaviour.md against a running suite.

Two meters (input and output tokens, sum), metered prices of 3 ¢ and 5 ¢ per token,
customer Jenny Rosen on a test clock, a paid 10 USD credit grant scoped to metered
prices, a monthly subscription; 3,000 input tokens of usage; the preview invoice with
tentative credits; the clock advanced past period end and grace; the finalized invoice
(90.00 USD, credits 10.00, amount due 80.00), the balance and the ledger.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from google.type import money_pb2
from rich.console import Console
from rich.rule import Rule

from drawdown.config import Settings
from drawdown.console import Client, Column, enum, money, render, show_invoice, timestamp
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_pb
from drawdown.invoicing.v1 import catalog_service_pb2 as catalog_pb
from drawdown.invoicing.v1 import catalog_service_pb2_grpc as catalog_grpc
from drawdown.invoicing.v1 import customer_pb2, price_pb2, product_pb2, subscription_pb2, test_clock_pb2
from drawdown.invoicing.v1 import customer_service_pb2 as customer_pb
from drawdown.invoicing.v1 import customer_service_pb2_grpc as customer_grpc
from drawdown.invoicing.v1 import invoice_service_pb2 as invoice_pb
from drawdown.invoicing.v1 import subscription_service_pb2 as subscription_pb
from drawdown.invoicing.v1 import subscription_service_pb2_grpc as subscription_grpc
from drawdown.invoicing.v1 import test_clock_service_pb2 as clock_pb
from drawdown.invoicing.v1 import test_clock_service_pb2_grpc as clock_grpc
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_service_pb2 as meter_service_pb

METERS = {
    "hypernian_input_tokens": ("Hypernian input tokens", "3"),
    "hypernian_output_tokens": ("Hypernian output tokens", "5"),
}
INPUT_TOKEN_EVENTS = (1_000, 1_200, 800)  # 3,000 input tokens in the period
GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Prepared:
    """What the set-up steps created."""

    clock_id: str
    customer_id: str
    subscription_id: str
    start: datetime
    period_end: datetime


@dataclass
class DemoOutcome:
    """The figures a reader (and the end-to-end test) checks."""

    customer_id: str
    subscription_id: str
    invoice_id: str
    preview_amount_due: str
    preview_credits: str
    invoice_status: str
    invoice_subtotal: str
    invoice_credits: str
    invoice_amount_due: str
    available_balance: str
    ledger_balance: str
    transactions: list[str]


class Demo:
    def __init__(self, settings: Settings, console: Console, api_key: str | None = None) -> None:
        self.client = Client(settings, api_key)
        channels = self.client.channels
        self.catalog = catalog_grpc.CatalogServiceStub(channels["invoicing"])
        self.customers = customer_grpc.CustomerServiceStub(channels["invoicing"])
        self.subscriptions = subscription_grpc.SubscriptionServiceStub(channels["invoicing"])
        self.clocks = clock_grpc.TestClockServiceStub(channels["invoicing"])
        self.console = console
        self.run = uuid.uuid4().hex[:8]

    def _rid(self, step: str) -> str:
        """A request id per step of this run: a retried step never does its work twice."""
        return f"demo-{self.run}-{step}"

    def _step(self, title: str) -> None:
        self.console.print(Rule(f"[bold]{title}"))

    def prepare(self) -> Prepared:
        """Steps 1-5: meters, prices, the customer on a test clock, the grant, the subscription."""
        call = self.client.call
        self._step("1. Meters: input and output tokens, summed over the period")
        meter_ids = {name: self._ensure_meter(name, display) for name, (display, _) in METERS.items()}

        self._step("2. Metered prices: 3 ¢ per input token, 5 ¢ per output token, monthly")
        price_ids = [
            self._metered_price(meter_ids[name], display, unit) for name, (display, unit) in METERS.items()
        ]

        self._step("3. Jenny Rosen, on a test clock")
        start = datetime.now(UTC).replace(microsecond=0)
        clock = call(
            self.clocks.CreateTestClock,
            clock_pb.CreateTestClockRequest(
                test_clock=test_clock_pb2.TestClock(name="Hypernian demo", frozen_time=_ts(start)),
                request_id=self._rid("clock"),
            ),
        ).test_clock
        customer = call(
            self.customers.CreateCustomer,
            customer_pb.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    name="Jenny Rosen", email="jenny.rosen@example.com", test_clock_id=clock.id
                ),
                request_id=self._rid("customer"),
            ),
        ).customer
        self.console.print(
            f"customer {customer.id} · test clock {clock.id} at {timestamp(clock.frozen_time)}"
        )

        self._step("4. A paid credit grant of 10 USD for metered prices")
        grant = call(
            self.client.grants.CreateCreditGrant,
            grant_pb.CreateCreditGrantRequest(
                credit_grant=credit_grant_pb2.CreditGrant(
                    customer_id=customer.id,
                    name="Purchased credits",
                    amount=money_pb2.Money(currency_code="USD", units=10),
                    category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
                    applicability_config=credit_grant_pb2.ApplicabilityConfig(
                        price_type=credit_grant_pb2.PRICE_TYPE_METERED
                    ),
                    effective_time=_ts(start),
                ),
                request_id=self._rid("grant"),
            ),
        ).credit_grant
        self.console.print(f"grant {grant.id}: {money(grant.amount)}")

        self._step("5. A monthly subscription to both prices")
        subscription = call(
            self.subscriptions.CreateSubscription,
            subscription_pb.CreateSubscriptionRequest(
                subscription=subscription_pb2.Subscription(
                    customer_id=customer.id,
                    items=[subscription_pb2.SubscriptionItem(price_id=p) for p in price_ids],
                ),
                request_id=self._rid("subscription"),
            ),
        ).subscription
        period_end = subscription.current_period_end.ToDatetime(tzinfo=UTC)
        self.console.print(
            f"subscription {subscription.id}: {timestamp(subscription.current_period_start)} → {timestamp(subscription.current_period_end)}"
        )
        return Prepared(clock.id, customer.id, subscription.id, start, period_end)

    def run_scenario(self) -> DemoOutcome:
        prepared = self.prepare()
        call = self.client.call
        start, period_end = prepared.start, prepared.period_end
        self._step("6. Usage: 3,000 input tokens")
        for index, tokens in enumerate(INPUT_TOKEN_EVENTS):
            call(
                self.client.meter_events.CreateMeterEvent,
                event_pb.CreateMeterEventRequest(
                    meter_event=meter_event_pb2.MeterEvent(
                        event_name="hypernian_input_tokens",
                        identifier=self._rid(f"usage-{index}"),
                        payload={"customer_id": prepared.customer_id, "value": str(tokens)},
                        timestamp=_ts(start),
                    )
                ),
            )
            self.console.print(f"  {tokens:>5} input tokens")

        self._step("7. Preview of the upcoming invoice (credits tentative)")
        preview = call(
            self.client.invoices.CreateInvoicePreview,
            invoice_pb.CreateInvoicePreviewRequest(subscription_id=prepared.subscription_id),
        ).invoice
        show_invoice(self.console, preview, "Upcoming invoice (preview)")

        self._step("8. Advancing the clock past the period end and the grace period")
        advanced_to = period_end + GRACE + timedelta(minutes=1)
        call(
            self.clocks.AdvanceTestClock,
            clock_pb.AdvanceTestClockRequest(
                id=prepared.clock_id, frozen_time=_ts(advanced_to), request_id=self._rid("advance")
            ),
        )
        self.console.print(f"test clock now at {advanced_to.isoformat()}")

        self._step("9. The finalized invoice")
        invoices = self.client.list_all(
            self.client.invoices.ListInvoices,
            invoice_pb.ListInvoicesRequest(
                customer_id=prepared.customer_id, subscription_id=prepared.subscription_id
            ),
            "invoices",
        )
        final = next(i for i in invoices if i.period_end.ToDatetime(tzinfo=UTC) == period_end)
        show_invoice(self.console, final)

        self._step("10. Credit balance and its transactions")
        summary = call(
            self.client.balances.GetCreditBalanceSummary,
            balance_pb.GetCreditBalanceSummaryRequest(
                customer_id=prepared.customer_id, as_of=_ts(advanced_to)
            ),
        ).credit_balance_summary
        balance = summary.balances[0]
        render(
            self.console,
            "Balance",
            [balance],
            [
                Column("available", lambda b: money(b.available_balance), numeric=True),
                Column("ledger", lambda b: money(b.ledger_balance), numeric=True),
            ],
        )
        transactions = self.client.list_all(
            self.client.balances.ListCreditBalanceTransactions,
            balance_pb.ListCreditBalanceTransactionsRequest(customer_id=prepared.customer_id),
            "credit_balance_transactions",
        )
        described = [_describe_transaction(t) for t in transactions]
        render(
            self.console,
            "Credit balance transactions (newest first)",
            transactions,
            [
                Column("id", lambda t: t.id),
                Column("transaction", _describe_transaction),
                Column(
                    "invoice", lambda t: t.debit.invoice_id if t.HasField("debit") else t.credit.invoice_id
                ),
            ],
        )
        return DemoOutcome(
            customer_id=prepared.customer_id,
            subscription_id=prepared.subscription_id,
            invoice_id=final.id,
            preview_amount_due=money(preview.amount_due),
            preview_credits=money(preview.total_credits_applied),
            invoice_status=enum(final, "status"),
            invoice_subtotal=money(final.subtotal),
            invoice_credits=money(final.total_credits_applied),
            invoice_amount_due=money(final.amount_due),
            available_balance=money(balance.available_balance),
            ledger_balance=money(balance.ledger_balance),
            transactions=described,
        )

    def _ensure_meter(self, event_name: str, display_name: str) -> str:
        """The active meter for ``event_name``, created on the first run (event names are unique)."""
        existing = self.client.list_all(
            self.client.meters.ListMeters, meter_service_pb.ListMetersRequest(), "meters"
        )
        for meter in existing:
            if meter.event_name == event_name and meter.status == meter_pb2.METER_STATUS_ACTIVE:
                self.console.print(f"meter {meter.id} ({event_name}) exists")
                return meter.id
        meter = self.client.call(
            self.client.meters.CreateMeter,
            meter_service_pb.CreateMeterRequest(
                meter=meter_pb2.Meter(
                    display_name=display_name,
                    event_name=event_name,
                    aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                ),
                request_id=f"demo-meter-{event_name}",
            ),
        ).meter
        self.console.print(f"meter {meter.id} ({event_name}) created")
        return meter.id

    def _metered_price(self, meter_id: str, name: str, unit_amount_cents: str) -> str:
        product = self.client.call(
            self.catalog.CreateProduct,
            catalog_pb.CreateProductRequest(
                product=product_pb2.Product(name=name), request_id=self._rid(f"product-{meter_id}")
            ),
        ).product
        price = self.client.call(
            self.catalog.CreatePrice,
            catalog_pb.CreatePriceRequest(
                price=price_pb2.Price(
                    product_id=product.id,
                    currency="USD",
                    type=price_pb2.PRICE_TYPE_METERED,
                    recurring=price_pb2.Recurring(
                        interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1
                    ),
                    meter_id=meter_id,
                    billing_scheme=price_pb2.BILLING_SCHEME_PER_UNIT,
                    unit_amount_decimal={"value": unit_amount_cents},
                ),
                request_id=self._rid(f"price-{meter_id}"),
            ),
        ).price
        self.console.print(f"price {price.id}: {unit_amount_cents} ¢ per token ({name})")
        return price.id

    def close(self) -> None:
        self.client.close()


def _ts(moment: datetime) -> Message:
    from google.protobuf import timestamp_pb2

    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def _describe_transaction(transaction: Message) -> str:
    if transaction.HasField("credit"):
        return f"+{money(transaction.credit.amount)} {enum(transaction.credit, 'type')}"
    return f"-{money(transaction.debit.amount)} {enum(transaction.debit, 'type')}"


def run_demo(settings: Settings, *, as_json: bool, api_key: str | None = None) -> DemoOutcome:
    console = Console(quiet=as_json)
    demo = Demo(settings, console, api_key)
    try:
        outcome = demo.run_scenario()
    finally:
        demo.close()
    if as_json:
        print(json.dumps(asdict(outcome), indent=2))
    return outcome
