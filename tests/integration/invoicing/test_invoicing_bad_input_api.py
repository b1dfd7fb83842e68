"""No input gives INTERNAL, UNKNOWN or a retry-later status (X-5), through the real servers:
amounts, quantities, durations, tiers, intervals, times at the edges of their types and
enum numbers that do not exist are refused where they enter, naming the field, or are
served."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.type import money_pb2

from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    price_pb2,
    subscription_pb2,
    subscription_service_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_builders import (
    Invoicing,
    clock_at,
    customer,
    invoicing_on_real_peers,
    licensed_price,
    metered_price,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import error_of, product

INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
INT32_MAX = 2**31 - 1
FIRST = timestamp_pb2.Timestamp(seconds=-62135596800)  # 0001-01-01T00:00:00Z
LAST = timestamp_pb2.Timestamp(seconds=253402300799)  # 9999-12-31T23:59:59Z
RETRY_LATER_OR_BUG = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}
METERED = invoice_pb2.CreditApplicabilityConfig(price_type=invoice_pb2.CREDIT_PRICE_TYPE_METERED)


@dataclass
class World:
    invoicing: Invoicing
    customer_id: str
    clock_id: str
    product_id: str
    meter_id: str
    subscription_id: str
    seat_price: str

    @property
    def metadata(self):
        return self.invoicing.metadata


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    async with invoicing_on_real_peers(database_url) as invoicing:
        meter_id = await invoicing.meter()
        clock_id = await clock_at(invoicing)
        customer_id = await customer(invoicing, clock_id)
        subscription = await subscribe(invoicing, customer_id, await metered_price(invoicing, meter_id))
        yield World(
            invoicing,
            customer_id,
            clock_id,
            await product(invoicing),
            meter_id,
            subscription.subscription.id,
            await licensed_price(invoicing),
        )


def price(w: World, **fields) -> catalog_service_pb2.CreatePriceRequest:
    values = {
        "product_id": w.product_id,
        "currency": "USD",
        "type": price_pb2.PRICE_TYPE_METERED,
        "recurring": price_pb2.Recurring(interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1),
        "meter_id": w.meter_id,
        "unit_amount_decimal": {"value": "3"},
    }
    values.update(fields)
    return catalog_service_pb2.CreatePriceRequest(price=price_pb2.Price(**values))


def tiered(*tiers: price_pb2.PriceTier, mode=price_pb2.TIERS_MODE_GRADUATED) -> dict:
    return {
        "billing_scheme": price_pb2.BILLING_SCHEME_TIERED,
        "tiers_mode": mode,
        "tiers": list(tiers),
        "unit_amount_decimal": None,
    }


def purchase(w: World, **fields) -> invoice_service_pb2.CreateCreditPurchaseRequest:
    values = {
        "customer_id": w.customer_id,
        "amount": money_pb2.Money(currency_code="USD", units=25),
        "name": "Top-up",
        "applicability_config": METERED,
    }
    values.update(fields)
    return invoice_service_pb2.CreateCreditPurchaseRequest(**values)


def grace(seconds: int, nanos: int = 0) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def subscription(w: World, **fields) -> subscription_service_pb2.CreateSubscriptionRequest:
    values = {
        "customer_id": w.customer_id,
        "items": [subscription_pb2.SubscriptionItem(price_id=w.seat_price, quantity=1)],
    }
    values.update(fields)
    return subscription_service_pb2.CreateSubscriptionRequest(
        subscription=subscription_pb2.Subscription(**values)
    )


def seats(w: World, quantity: int) -> subscription_service_pb2.CreateSubscriptionRequest:
    return subscription(
        w, items=[subscription_pb2.SubscriptionItem(price_id=w.seat_price, quantity=quantity)]
    )


Call = Callable[[World], object]
REFUSED: list[tuple[str, Call, tuple[str, list[str]]]] = [
    # -- amounts --------------------------------------------------------------------------
    (
        "credit purchase of 92233720368547759 USD",
        lambda w: w.invoicing.invoices.CreateCreditPurchase(
            purchase(w, amount=money_pb2.Money(currency_code="USD", units=92233720368547759)),
            metadata=w.metadata,
        ),
        ("INVALID_AMOUNT", ["amount"]),
    ),
    (
        "credit purchase of int64 max yen",
        lambda w: w.invoicing.invoices.CreateCreditPurchase(
            purchase(w, amount=money_pb2.Money(currency_code="JPY", units=INT64_MAX)), metadata=w.metadata
        ),
        ("INVALID_AMOUNT", ["amount"]),
    ),
    (
        "credit purchase priority int32 max",
        lambda w: w.invoicing.invoices.CreateCreditPurchase(
            purchase(w, priority=INT32_MAX), metadata=w.metadata
        ),
        ("INVALID_PRIORITY", ["priority"]),
    ),
    (
        "credit purchase price type 99",
        lambda w: w.invoicing.invoices.CreateCreditPurchase(
            purchase(w, applicability_config=invoice_pb2.CreditApplicabilityConfig(price_type=99)),
            metadata=w.metadata,
        ),
        ("INVALID_APPLICABILITY", ["applicability_config.price_type"]),
    ),
    # -- durations ------------------------------------------------------------------------
    *[
        (
            f"customer grace period of {seconds} s",
            lambda w, seconds=seconds: w.invoicing.customers.CreateCustomer(
                customer_service_pb2.CreateCustomerRequest(
                    customer=customer_pb2.Customer(
                        invoice_settings=customer_pb2.CustomerInvoiceSettings(grace_period=grace(seconds))
                    )
                ),
                metadata=w.metadata,
            ),
            ("INVALID_ARGUMENT", ["customer.invoice_settings.grace_period"]),
        )
        for seconds in (INT64_MAX, INT64_MIN)
    ],
    (
        "customer grace period with nanos of the other sign",
        lambda w: w.invoicing.customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    invoice_settings=customer_pb2.CustomerInvoiceSettings(grace_period=grace(60, -5))
                )
            ),
            metadata=w.metadata,
        ),
        ("INVALID_ARGUMENT", ["customer.invoice_settings.grace_period"]),
    ),
    (
        "customer grace period updated to int64 max",
        lambda w: w.invoicing.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(
                    id=w.customer_id,
                    invoice_settings=customer_pb2.CustomerInvoiceSettings(grace_period=grace(INT64_MAX)),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["invoice_settings.grace_period"]),
            ),
            metadata=w.metadata,
        ),
        ("INVALID_ARGUMENT", ["customer.invoice_settings.grace_period"]),
    ),
    *[
        (
            f"subscription grace period of {seconds} s",
            lambda w, seconds=seconds: w.invoicing.subscriptions.CreateSubscription(
                subscription(
                    w,
                    invoice_settings=subscription_pb2.SubscriptionInvoiceSettings(
                        grace_period=grace(seconds)
                    ),
                ),
                metadata=w.metadata,
            ),
            ("INVALID_ARGUMENT", ["subscription.invoice_settings.grace_period"]),
        )
        for seconds in (INT64_MAX, INT64_MIN)
    ],
    # -- quantities -----------------------------------------------------------------------
    (
        "int64 max seats",
        lambda w: w.invoicing.subscriptions.CreateSubscription(seats(w, INT64_MAX), metadata=w.metadata),
        ("LINE_AMOUNT_TOO_LARGE", ["subscription.items[0].quantity"]),
    ),
    (
        "int64 min seats",
        lambda w: w.invoicing.subscriptions.CreateSubscription(seats(w, INT64_MIN), metadata=w.metadata),
        ("INVALID_QUANTITY", ["subscription.items[0].quantity"]),
    ),
    # -- prices ---------------------------------------------------------------------------
    *[
        (
            f"interval count {count}",
            lambda w, count=count: w.invoicing.catalog.CreatePrice(
                price(
                    w,
                    recurring=price_pb2.Recurring(
                        interval=price_pb2.RECURRING_INTERVAL_DAY, interval_count=count
                    ),
                ),
                metadata=w.metadata,
            ),
            ("INVALID_INTERVAL", ["interval_count"]),
        )
        for count in (0, -1, -(2**31), INT32_MAX)
    ],
    *[
        (
            f"divide_by {divide_by}",
            lambda w, divide_by=divide_by: w.invoicing.catalog.CreatePrice(
                price(
                    w,
                    transform_quantity=price_pb2.TransformQuantity(
                        divide_by=divide_by, round=price_pb2.TRANSFORM_QUANTITY_ROUND_UP
                    ),
                ),
                metadata=w.metadata,
            ),
            ("INVALID_TRANSFORM_QUANTITY", ["price.transform_quantity"]),
        )
        for divide_by in (0, INT64_MIN)
    ],
    (
        "a tier amount of 10^12",
        lambda w: w.invoicing.catalog.CreatePrice(
            price(w, **tiered(price_pb2.PriceTier(unit_amount_decimal={"value": "1e12"}))),
            metadata=w.metadata,
        ),
        ("INVALID_TIERS", ["tiers[0].unit_amount_decimal"]),
    ),
    (
        "101 tiers",
        lambda w: w.invoicing.catalog.CreatePrice(
            price(
                w,
                **tiered(
                    *[
                        price_pb2.PriceTier(up_to=n, unit_amount_decimal={"value": "1"})
                        for n in range(1, 101)
                    ],
                    price_pb2.PriceTier(unit_amount_decimal={"value": "1"}),
                ),
            ),
            metadata=w.metadata,
        ),
        ("INVALID_TIERS", ["tiers"]),
    ),
    (
        "up_to int64 min",
        lambda w: w.invoicing.catalog.CreatePrice(
            price(
                w,
                **tiered(
                    price_pb2.PriceTier(up_to=INT64_MIN, unit_amount_decimal={"value": "1"}),
                    price_pb2.PriceTier(unit_amount_decimal={"value": "1"}),
                ),
            ),
            metadata=w.metadata,
        ),
        ("INVALID_TIERS", ["tiers[0].up_to"]),
    ),
    # -- enums that do not exist ----------------------------------------------------------
    (
        "price type 99",
        lambda w: w.invoicing.catalog.CreatePrice(price(w, type=99), metadata=w.metadata),
        ("INVALID_PRICE_TYPE", ["price.type"]),
    ),
    (
        "interval 99",
        lambda w: w.invoicing.catalog.CreatePrice(
            price(w, recurring=price_pb2.Recurring(interval=99, interval_count=1)), metadata=w.metadata
        ),
        ("INVALID_INTERVAL", ["price.recurring.interval"]),
    ),
    (
        "billing scheme 99",
        lambda w: w.invoicing.catalog.CreatePrice(price(w, billing_scheme=99), metadata=w.metadata),
        ("INVALID_ARGUMENT", ["price.billing_scheme"]),
    ),
    (
        "tiers mode 99 on a per-unit price",
        lambda w: w.invoicing.catalog.CreatePrice(price(w, tiers_mode=99), metadata=w.metadata),
        ("INVALID_TIERS", ["price.tiers_mode"]),
    ),
    (
        "rounding 99",
        lambda w: w.invoicing.catalog.CreatePrice(
            price(w, transform_quantity=price_pb2.TransformQuantity(divide_by=10, round=99)),
            metadata=w.metadata,
        ),
        ("INVALID_TRANSFORM_QUANTITY", ["price.transform_quantity"]),
    ),
    (
        "list prices of type 99",
        lambda w: w.invoicing.catalog.ListPrices(
            catalog_service_pb2.ListPricesRequest(type=99), metadata=w.metadata
        ),
        ("INVALID_ARGUMENT", ["type"]),
    ),
    (
        "list subscriptions in status 99",
        lambda w: w.invoicing.subscriptions.ListSubscriptions(
            subscription_service_pb2.ListSubscriptionsRequest(status=99), metadata=w.metadata
        ),
        ("INVALID_ARGUMENT", ["status"]),
    ),
    (
        "list invoices in status 99",
        lambda w: w.invoicing.invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(status=99), metadata=w.metadata
        ),
        ("INVALID_ARGUMENT", ["status"]),
    ),
    # -- times at the calendar's ends -----------------------------------------------------
    *[
        (
            f"a test clock at {name}",
            lambda w, at=at: w.invoicing.clocks.CreateTestClock(
                test_clock_service_pb2.CreateTestClockRequest(
                    test_clock=test_clock_pb2.TestClock(frozen_time=at)
                ),
                metadata=w.metadata,
            ),
            ("INVALID_FROZEN_TIME", ["test_clock.frozen_time"]),
        )
        for name, at in (("0001-01-01", FIRST), ("9999-12-31", LAST))
    ],
    (
        "an advance to 9999-12-31",
        lambda w: w.invoicing.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(id=w.clock_id, frozen_time=LAST),
            metadata=w.metadata,
        ),
        ("INVALID_FROZEN_TIME", ["frozen_time"]),
    ),
    (
        "an advance to 0001-01-01",
        lambda w: w.invoicing.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(id=w.clock_id, frozen_time=FIRST),
            metadata=w.metadata,
        ),
        ("TEST_CLOCK_BACKWARDS", ["frozen_time"]),
    ),
    (
        "an advance with nanos out of range",
        lambda w: w.invoicing.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(
                id=w.clock_id, frozen_time=timestamp_pb2.Timestamp(seconds=1, nanos=-1)
            ),
            metadata=w.metadata,
        ),
        ("INVALID_TIMESTAMP", ["frozen_time.nanos"]),
    ),
    *[
        (
            f"a preview as of {name}",
            lambda w, at=at: w.invoicing.invoices.CreateInvoicePreview(
                invoice_service_pb2.CreateInvoicePreviewRequest(
                    subscription_id=w.subscription_id, as_of_time=at
                ),
                metadata=w.metadata,
            ),
            ("INVALID_AS_OF_TIME", ["as_of_time"]),
        )
        for name, at in (("0001-01-01", FIRST), ("9999-12-31", LAST))
    ],
    (
        "a credit purchase expiring at 0001-01-01",
        lambda w: w.invoicing.invoices.CreateCreditPurchase(
            purchase(w, expire_time=FIRST), metadata=w.metadata
        ),
        ("INVALID_EXPIRY", ["expire_time"]),
    ),
]


async def test_bad_input_is_refused_where_it_enters_naming_the_field_x5(world: World) -> None:
    # Every case on one suite (a suite per case would cost a second each): those that differ.
    wrong = []
    for name, call, expected in REFUSED:
        try:
            await call(world)
        except grpc.aio.AioRpcError as error:
            code, reason, fields = error_of(error)
            details = error.details() or ""
            if code in RETRY_LATER_OR_BUG or (reason, fields) != expected or len(details) > 400:
                wrong.append((name, code.name, reason, fields, details[:200]))
        else:
            wrong.append((name, "OK", "", [], ""))
    assert wrong == []


async def test_inputs_at_the_edges_of_their_types_that_fit_are_served_x5(world: World) -> None:
    w = world
    # A tier bound and a divisor at int64 max, and the largest amounts a price takes.
    await w.invoicing.catalog.CreatePrice(
        price(
            w,
            **tiered(
                price_pb2.PriceTier(
                    up_to=INT64_MAX - 1, unit_amount_decimal={"value": "999999999999.999999999999"}
                ),
                price_pb2.PriceTier(flat_amount_decimal={"value": "999999999999.999999999999"}),
            ),
        ),
        metadata=w.metadata,
    )
    await w.invoicing.catalog.CreatePrice(
        price(
            w,
            transform_quantity=price_pb2.TransformQuantity(
                divide_by=INT64_MAX, round=price_pb2.TRANSFORM_QUANTITY_ROUND_UP
            ),
        ),
        metadata=w.metadata,
    )
    # The longest grace period, a clock at the range's first instant, a purchase that
    # expires at the calendar's last second (paid: the grant is created).
    await w.invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(
                invoice_settings=customer_pb2.CustomerInvoiceSettings(grace_period=grace(72 * 3600))
            )
        ),
        metadata=w.metadata,
    )
    await w.invoicing.clocks.CreateTestClock(
        test_clock_service_pb2.CreateTestClockRequest(
            test_clock=test_clock_pb2.TestClock(
                frozen_time=timestamp_to_proto(datetime(1970, 1, 1, tzinfo=UTC))
            )
        ),
        metadata=w.metadata,
    )
    bought = await w.invoicing.invoices.CreateCreditPurchase(
        purchase(w, expire_time=LAST), metadata=w.metadata
    )
    paid = await w.invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=bought.invoice.id), metadata=w.metadata
    )
    assert paid.invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    assert paid.invoice.credit_purchase.credit_grant_id.startswith("cg_")
