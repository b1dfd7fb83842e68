"""Credit purchases (I-15) and the live balance (I-17) through the real invoicing, metering
and credits servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest
from google.type import money_pb2

from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2
from drawdown.invoicing.v1 import customer_service_pb2, invoice_pb2, invoice_service_pb2
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    invoicing_on_real_peers,
    method,
    minor,
)
from tests.integration.invoicing.test_invoicing_billing_api import hypernian_customer
from tests.integration.invoicing.test_invoicing_catalog_api import failure
from tests.integration.invoicing.test_invoicing_faults_api import DOWN, recovery_billing

CREATE_GRANT = method("CreditGrantService/CreateCreditGrant")
GRANT_LIMIT = 100
METERED = invoice_pb2.CreditApplicabilityConfig(price_type=invoice_pb2.CREDIT_PRICE_TYPE_METERED)


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


def purchase(
    customer_id: str, dollars: int = 25, **fields
) -> invoice_service_pb2.CreateCreditPurchaseRequest:
    return invoice_service_pb2.CreateCreditPurchaseRequest(
        customer_id=customer_id,
        amount=money_pb2.Money(currency_code="USD", units=dollars),
        name="Top-up",
        applicability_config=METERED,
        **fields,
    )


async def pay(invoicing: Invoicing, invoice_id: str, request_id: str = ""):
    return await invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=invoice_id, request_id=request_id),
        metadata=invoicing.metadata,
    )


async def test_paying_a_purchase_creates_the_grant_once_i15(invoicing: Invoicing) -> None:
    customer_id = await customer(invoicing)
    created = await invoicing.invoices.CreateCreditPurchase(
        purchase(customer_id), metadata=invoicing.metadata
    )
    invoice = created.invoice
    assert (invoice.status, invoice.billing_reason) == (
        invoice_pb2.INVOICE_STATUS_OPEN,
        invoice_pb2.BILLING_REASON_CREDIT_PURCHASE,
    )
    assert [line.type for line in invoice.lines] == [invoice_pb2.INVOICE_LINE_TYPE_CREDIT_PURCHASE]
    assert minor(invoice.amount_due) == 2500 and invoice.credit_purchase.credit_grant_id == ""
    paid = (await pay(invoicing, invoice.id, "pay-1")).invoice
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert paid.credit_purchase.credit_grant_id
    assert await pay(invoicing, invoice.id, "pay-1") == invoicing_pay_reply(paid)
    assert (await failure(pay(invoicing, invoice.id)))[1] == "INVALID_INVOICE_STATUS"
    (grant,) = await invoicing.grants_of(customer_id)
    assert grant.id == paid.credit_purchase.credit_grant_id
    assert (grant.customer_id, minor(grant.amount)) == (customer_id, 2500)
    assert grant.applicability_config.price_type == credit_grant_pb2.PRICE_TYPE_METERED
    assert await invoicing.grant_balance(customer_id, grant.id) == (2500, 2500)


def invoicing_pay_reply(invoice: invoice_pb2.Invoice) -> invoice_service_pb2.PayInvoiceResponse:
    return invoice_service_pb2.PayInvoiceResponse(invoice=invoice)


async def test_a_lost_grant_answer_is_completed_exactly_once_i15(invoicing: Invoicing) -> None:
    customer_id = await customer(invoicing)
    invoice = (
        await invoicing.invoices.CreateCreditPurchase(purchase(customer_id), metadata=invoicing.metadata)
    ).invoice
    invoicing.credits_faults.fail(CREATE_GRANT, when="after", times=DOWN)
    code, reason, _ = await failure(pay(invoicing, invoice.id))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    assert invoicing.credits_faults.served[CREATE_GRANT] >= 1  # created, but the answer was lost
    invoicing.credits_faults.clear()
    async with recovery_billing(invoicing) as billing:
        assert await billing.recover_in_flight(timedelta(0)) == 1
    reply = await invoicing.invoices.GetInvoice(
        invoice_service_pb2.GetInvoiceRequest(id=invoice.id), metadata=invoicing.metadata
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    (grant,) = await invoicing.grants_of(customer_id)  # every retry found the same grant
    assert reply.invoice.credit_purchase.credit_grant_id == grant.id
    assert await invoicing.ledger(customer_id, grant.id) == 2500


async def test_voided_or_expired_purchases_grant_nothing_i15(invoicing: Invoicing) -> None:
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    voided = (
        await invoicing.invoices.CreateCreditPurchase(purchase(customer_id), metadata=invoicing.metadata)
    ).invoice
    reply = await invoicing.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=voided.id), metadata=invoicing.metadata
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_VOID
    expiring = (
        await invoicing.invoices.CreateCreditPurchase(
            purchase(customer_id, expire_time=timestamp_to_proto(T0 + timedelta(days=1))),
            metadata=invoicing.metadata,
        )
    ).invoice
    await advance(invoicing, clock_id, T0 + timedelta(days=2))
    code, reason, _ = await failure(pay(invoicing, expiring.id))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_PURCHASE_EXPIRED")
    assert await invoicing.grants_of(customer_id) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amount": money_pb2.Money(currency_code="USD", units=0)}, ("INVALID_AMOUNT", ["amount"])),
        ({"amount": money_pb2.Money(currency_code="USD", nanos=1)}, ("INVALID_AMOUNT", ["amount.nanos"])),
        ({"priority": 101}, ("INVALID_PRIORITY", ["priority"])),
        (
            {"applicability_config": invoice_pb2.CreditApplicabilityConfig()},
            ("INVALID_APPLICABILITY", ["applicability_config"]),
        ),
    ],
)
async def test_purchase_validation_names_the_field_i15(invoicing: Invoicing, fields, expected) -> None:
    customer_id = await customer(invoicing)
    request = purchase(customer_id)
    for name, value in fields.items():
        if hasattr(value, "DESCRIPTOR"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    _, reason, violations = await failure(
        invoicing.invoices.CreateCreditPurchase(request, metadata=invoicing.metadata)
    )
    assert (reason, violations) == expected


async def test_purchase_metadata_leaves_room_for_the_invoice_id_of_its_grant_i15(
    invoicing: Invoicing,
) -> None:
    customer_id = await customer(invoicing)
    full = {f"key{i}": "v" for i in range(50)}
    _, _, violations = await failure(
        invoicing.invoices.CreateCreditPurchase(
            purchase(customer_id, metadata=full), metadata=invoicing.metadata
        )
    )
    fits = {f"key{i}": "v" for i in range(49)} | {"invoice_id": "sent"}
    invoice = (
        await invoicing.invoices.CreateCreditPurchase(
            purchase(customer_id, metadata=fits), metadata=invoicing.metadata
        )
    ).invoice
    paid = (await pay(invoicing, invoice.id)).invoice

    assert violations == ["metadata"]
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    (grant,) = await invoicing.grants_of(customer_id)
    assert (len(grant.metadata), grant.metadata["invoice_id"]) == (50, invoice.id)


async def test_live_balance_is_credits_minus_unbilled_usage_i17(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, _ = await hypernian_customer(invoicing, grant=1000)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(hours=1), 100)  # 3.00
    await invoicing.record(catalog.output_meter, customer_id, T0 + timedelta(hours=2), 300)  # 15.00
    await advance(invoicing, clock_id, T0 + timedelta(days=1))
    reply = await invoicing.customers.GetCustomerLiveBalance(
        customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id),
        metadata=invoicing.metadata,
    )
    balance = reply.live_balance
    assert balance.as_of_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=1)
    (usd,) = balance.balances
    assert (minor(usd.available_credits), minor(usd.unbilled_usage), minor(usd.live_balance)) == (
        1000,
        1800,
        -800,
    )
    assert usd.live_balance.units == -8


async def test_a_refused_grant_leaves_the_purchase_open_i15_c4(invoicing: Invoicing) -> None:
    customer_id = await customer(invoicing)
    invoice = (
        await invoicing.invoices.CreateCreditPurchase(purchase(customer_id), metadata=invoicing.metadata)
    ).invoice
    # C-4 on the real credits server: 100 unused grants are the most a customer may hold.
    grants = [await invoicing.grant(customer_id, 1) for _ in range(GRANT_LIMIT)]
    code, reason, _ = await failure(pay(invoicing, invoice.id))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GRANT_LIMIT_REACHED")
    reply = await invoicing.invoices.GetInvoice(
        invoice_service_pb2.GetInvoiceRequest(id=invoice.id), metadata=invoicing.metadata
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN and not reply.invoice.HasField("paid_time")
    await invoicing.grants.VoidCreditGrant(
        credit_grant_service_pb2.VoidCreditGrantRequest(id=grants[0]), metadata=invoicing.metadata
    )
    paid = (await pay(invoicing, invoice.id)).invoice
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert await invoicing.ledger(customer_id, paid.credit_purchase.credit_grant_id) == 2500
