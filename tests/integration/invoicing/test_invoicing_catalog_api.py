"""Customers, products, prices and test clocks through the real invoicing server, with
meters on the real metering server (I-1, I-2, I-16)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    customer_pb2,
    customer_service_pb2,
    price_pb2,
    product_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_builders import Invoicing, invoicing_on_real_peers, method


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


def error_of(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    """(code, ErrorInfo reason, BadRequest field paths) of a failed call."""
    status = rpc_status.from_call(error)
    reason, fields = "", []
    for detail in status.details if status else ():
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return error.code(), reason, fields


async def failure(call) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return error_of(raised.value)


async def product(invoicing: Invoicing, name: str = "Hypernian input tokens") -> str:
    reply = await invoicing.catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name=name)),
        metadata=invoicing.metadata,
    )
    return reply.product.id


def metered(product_id: str, meter_id: str, unit: str = "3") -> price_pb2.Price:
    return price_pb2.Price(
        product_id=product_id,
        currency="usd",
        type=price_pb2.PRICE_TYPE_METERED,
        recurring=price_pb2.Recurring(interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1),
        meter_id=meter_id,
        unit_amount_decimal={"value": unit},
    )


async def test_customer_round_trip_and_update_i1(invoicing: Invoicing) -> None:
    created = await invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(
                name="Jenny Rosen", email="jenny@example.com", metadata={"tier": "a"}
            ),
            request_id="c-1",
        ),
        metadata=invoicing.metadata,
    )
    customer = created.customer
    assert customer.id.startswith("cus_")
    assert customer.invoice_settings.grace_period.ToTimedelta() == timedelta(hours=1)
    again = await invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(
                name="Jenny Rosen", email="jenny@example.com", metadata={"tier": "a"}
            ),
            request_id="c-1",
        ),
        metadata=invoicing.metadata,
    )
    assert again.customer.id == customer.id
    updated = await invoicing.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(
                id=customer.id,
                name="Jenny R.",
                invoice_settings=customer_pb2.CustomerInvoiceSettings(
                    grace_period=duration_pb2.Duration(seconds=7200)
                ),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "invoice_settings.grace_period"]),
        ),
        metadata=invoicing.metadata,
    )
    assert updated.customer.name == "Jenny R."
    assert updated.customer.invoice_settings.grace_period.seconds == 7200
    listed = await invoicing.customers.ListCustomers(
        customer_service_pb2.ListCustomersRequest(email="JENNY@example.com"), metadata=invoicing.metadata
    )
    assert [c.id for c in listed.customers] == [customer.id]


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (customer_pb2.Customer(email="no-at-sign"), ("INVALID_ARGUMENT", ["customer.email"])),
        (
            customer_pb2.Customer(
                invoice_settings=customer_pb2.CustomerInvoiceSettings(
                    grace_period=duration_pb2.Duration(seconds=73 * 3600)
                )
            ),
            ("GRACE_PERIOD_TOO_LONG", ["customer.invoice_settings.grace_period"]),
        ),
        (customer_pb2.Customer(test_clock_id="clock_missing"), ("TEST_CLOCK_NOT_FOUND", [])),
    ],
)
async def test_customer_validation_names_the_field_i1(invoicing: Invoicing, customer, expected) -> None:
    _, reason, fields = await failure(
        invoicing.customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(customer=customer), metadata=invoicing.metadata
        )
    )
    assert (reason, fields) == expected


async def test_update_customer_refuses_immutable_test_clock_i1(invoicing: Invoicing) -> None:
    created = await invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name="A")),
        metadata=invoicing.metadata,
    )
    code, reason, fields = await failure(
        invoicing.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(id=created.customer.id, test_clock_id="clock_x"),
                update_mask=field_mask_pb2.FieldMask(paths=["test_clock_id"]),
            ),
            metadata=invoicing.metadata,
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMMUTABLE_FIELD",
        ["customer.test_clock_id"],
    )


async def test_metered_price_needs_an_active_meter_i2(invoicing: Invoicing) -> None:
    product_id = await product(invoicing)
    meter_id = await invoicing.meter()
    created = await invoicing.catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(price=metered(product_id, meter_id, "0.000000000001")),
        metadata=invoicing.metadata,
    )
    price = created.price
    assert (price.currency, price.unit_amount_decimal.value, price.billing_scheme) == (
        "USD",
        "0.000000000001",
        price_pb2.BILLING_SCHEME_PER_UNIT,
    )
    inactive = await invoicing.meter(active=False)
    assert (
        await failure(
            invoicing.catalog.CreatePrice(
                catalog_service_pb2.CreatePriceRequest(price=metered(product_id, inactive)),
                metadata=invoicing.metadata,
            )
        )
    )[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "METER_INACTIVE")
    assert (
        await failure(
            invoicing.catalog.CreatePrice(
                catalog_service_pb2.CreatePriceRequest(price=metered(product_id, "mtr_unknown")),
                metadata=invoicing.metadata,
            )
        )
    )[:2] == (grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")


async def test_metering_down_is_unavailable_and_changes_nothing_i2(invoicing: Invoicing) -> None:
    product_id = await product(invoicing)
    meter_id = await invoicing.meter()
    invoicing.metering_faults.fail("MeterService/GetMeter", when="before", times=100)
    code, reason, _ = await failure(
        invoicing.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(price=metered(product_id, meter_id)),
            metadata=invoicing.metadata,
        )
    )
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "METERING_SERVICE_UNAVAILABLE")
    get_meter = method("MeterService/GetMeter")
    assert (
        invoicing.metering_faults.served[get_meter] == 0 and invoicing.metering_faults.failed[get_meter] >= 1
    )
    listed = await invoicing.catalog.ListPrices(
        catalog_service_pb2.ListPricesRequest(), metadata=invoicing.metadata
    )
    assert not listed.prices


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"unit_amount_decimal": {"value": "0.0000000000001"}},
            ("INVALID_UNIT_AMOUNT", "unit_amount_decimal"),
        ),
        ({"unit_amount_decimal": {"value": "-1"}}, ("INVALID_UNIT_AMOUNT", "unit_amount_decimal")),
        ({"currency": "XXX"}, ("INVALID_CURRENCY", "currency")),
        (
            {
                "recurring": price_pb2.Recurring(
                    interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=13
                )
            },
            ("INVALID_INTERVAL", "interval_count"),
        ),
        ({"type": price_pb2.PRICE_TYPE_UNSPECIFIED}, ("INVALID_PRICE_TYPE", "price.type")),
    ],
)
async def test_price_validation_names_the_field_i2(invoicing: Invoicing, change, expected) -> None:
    product_id = await product(invoicing)
    price = metered(product_id, await invoicing.meter())
    for name, value in change.items():
        if isinstance(value, dict):
            getattr(price, name).CopyFrom(type(getattr(price, name))(**value))
        elif hasattr(value, "DESCRIPTOR"):
            getattr(price, name).CopyFrom(value)
        else:
            setattr(price, name, value)
    code, reason, fields = await failure(
        invoicing.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(price=price), metadata=invoicing.metadata
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert (reason, fields[0]) == expected


async def test_tiered_price_and_update_i2(invoicing: Invoicing) -> None:
    product_id = await product(invoicing)
    price = metered(product_id, await invoicing.meter())
    price.ClearField("unit_amount_decimal")
    price.billing_scheme = price_pb2.BILLING_SCHEME_TIERED
    price.tiers_mode = price_pb2.TIERS_MODE_GRADUATED
    price.tiers.add(up_to=1000, unit_amount_decimal={"value": "2"})
    price.tiers.add(unit_amount_decimal={"value": "1"}, flat_amount_decimal={"value": "100"})
    created = await invoicing.catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(price=price), metadata=invoicing.metadata
    )
    assert [t.up_to for t in created.price.tiers] == [1000, 0]
    assert not created.price.tiers[1].HasField("up_to")
    updated = await invoicing.catalog.UpdatePrice(
        catalog_service_pb2.UpdatePriceRequest(
            price=price_pb2.Price(id=created.price.id, active=False, nickname="old"),
            update_mask=field_mask_pb2.FieldMask(paths=["active", "nickname"]),
        ),
        metadata=invoicing.metadata,
    )
    assert (updated.price.active, updated.price.nickname) == (False, "old")
    _, reason, fields = await failure(
        invoicing.catalog.UpdatePrice(
            catalog_service_pb2.UpdatePriceRequest(
                price=price_pb2.Price(id=created.price.id, currency="EUR"),
                update_mask=field_mask_pb2.FieldMask(paths=["currency"]),
            ),
            metadata=invoicing.metadata,
        )
    )
    assert (reason, fields) == ("IMMUTABLE_FIELD", ["price.currency"])


async def test_test_clock_only_moves_forward_i16(invoicing: Invoicing) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = (
        await invoicing.clocks.CreateTestClock(
            test_clock_service_pb2.CreateTestClockRequest(
                test_clock=test_clock_pb2.TestClock(name="demo", frozen_time=timestamp_to_proto(start))
            ),
            metadata=invoicing.metadata,
        )
    ).test_clock
    assert clock.status == test_clock_pb2.TEST_CLOCK_STATUS_READY
    code, reason, fields = await failure(
        invoicing.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(
                id=clock.id, frozen_time=timestamp_to_proto(start)
            ),
            metadata=invoicing.metadata,
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "TEST_CLOCK_BACKWARDS",
        ["frozen_time"],
    )
    advanced = await invoicing.clocks.AdvanceTestClock(
        test_clock_service_pb2.AdvanceTestClockRequest(
            id=clock.id, frozen_time=timestamp_to_proto(start + timedelta(days=1))
        ),
        metadata=invoicing.metadata,
    )
    assert advanced.test_clock.frozen_time.ToDatetime(tzinfo=UTC) == start + timedelta(days=1)
    await invoicing.clocks.DeleteTestClock(
        test_clock_service_pb2.DeleteTestClockRequest(id=clock.id), metadata=invoicing.metadata
    )
    assert (
        await failure(
            invoicing.clocks.GetTestClock(
                test_clock_service_pb2.GetTestClockRequest(id=clock.id), metadata=invoicing.metadata
            )
        )
    )[:2] == (grpc.StatusCode.NOT_FOUND, "TEST_CLOCK_NOT_FOUND")


async def test_lists_page_newest_first_x4(invoicing: Invoicing) -> None:
    ids = [
        (
            await invoicing.customers.CreateCustomer(
                customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name=f"c{i}")),
                metadata=invoicing.metadata,
            )
        ).customer.id
        for i in range(5)
    ]
    seen, token = [], ""
    while True:
        reply = await invoicing.customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(page_size=2, page_token=token),
            metadata=invoicing.metadata,
        )
        seen += [c.id for c in reply.customers]
        token = reply.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    code, reason, fields = await failure(
        invoicing.customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(page_size=2, page_token="garbage"),
            metadata=invoicing.metadata,
        )
    )
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["page_token"])
