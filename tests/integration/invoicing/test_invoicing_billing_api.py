"""Subscriptions, drafts, finalization, credits and test clocks through the real invoicing,
metering and credits servers (I-3, I-10..I-16)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest

from drawdown.credits.v1 import credit_balance_pb2
from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2, subscription_pb2, subscription_service_pb2
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    hypernian_catalog,
    invoices_of,
    invoicing_on_real_peers,
    licensed_price,
    minor,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import failure

FEB_1 = T0.replace(month=2)
MAR_1 = T0.replace(month=3)


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


async def hypernian_customer(invoicing: Invoicing, grant: int = 1000):
    """A Hypernian customer on a test clock at T0, with a ``grant`` of cents (none if 0)."""
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    created = await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    granted = await invoicing.grant(customer_id, grant) if grant else None
    return catalog, clock_id, customer_id, created, granted


async def test_hypernian_period_draws_credits_and_leaves_80_due_i10_i11_i13(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, created, grant = await hypernian_customer(invoicing)
    assert not created.HasField("invoice")  # I-10: metered-only, billed in arrears
    assert created.subscription.current_period_end.ToDatetime(tzinfo=UTC) == FEB_1
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=3), 3000)

    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))

    (invoice,) = await invoices_of(invoicing, customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert invoice.billing_reason == invoice_pb2.BILLING_REASON_SUBSCRIPTION_CYCLE
    assert (invoice.period_start.ToDatetime(tzinfo=UTC), invoice.period_end.ToDatetime(tzinfo=UTC)) == (
        T0,
        FEB_1,
    )
    assert [minor(line.amount) for line in invoice.lines] == [9000, 0]
    assert [line.quantity.value for line in invoice.lines] == ["3000", "0"]
    assert (minor(invoice.subtotal), minor(invoice.total_credits_applied), minor(invoice.amount_due)) == (
        9000,
        1000,
        8000,
    )
    (line_credit,) = invoice.lines[0].credits
    assert line_credit.credit_grant_id == grant and minor(line_credit.amount) == 1000
    assert line_credit.credit_balance_transaction_id.startswith("cbt_")
    (application,) = invoice.credit_applications
    assert list(application.credit_balance_transaction_ids) == [line_credit.credit_balance_transaction_id]
    assert invoice.finalize_time.ToDatetime(tzinfo=UTC) == FEB_1 + timedelta(hours=1)  # grace period
    assert await invoicing.ledger(customer_id, grant) == 0
    assert await invoicing.draws(customer_id) == {invoice.id: 1}


async def test_small_usage_is_paid_and_the_next_period_draws_the_rest_i11(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 100)  # 3.00
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))
    (first,) = await invoices_of(invoicing, customer_id)
    assert first.status == invoice_pb2.INVOICE_STATUS_PAID
    assert (minor(first.total_credits_applied), minor(first.amount_due)) == (300, 0)
    assert await invoicing.ledger(customer_id, grant) == 700

    await invoicing.record(catalog.output_meter, customer_id, FEB_1 + timedelta(days=2), 1000)  # 50.00
    await advance(invoicing, clock_id, MAR_1 + timedelta(hours=2))
    _, second = await invoices_of(invoicing, customer_id)
    assert second.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert [minor(line.credits_applied) for line in second.lines] == [0, 700]
    assert (minor(second.subtotal), minor(second.amount_due)) == (5000, 4300)
    assert await invoicing.ledger(customer_id, grant) == 0
    assert await invoicing.draws(customer_id) == {first.id: 1, second.id: 1}


async def test_usage_sent_during_the_grace_period_is_billed_i11(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, _ = await hypernian_customer(invoicing, grant=0)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 10)
    await advance(invoicing, clock_id, FEB_1 + timedelta(minutes=30))
    (draft,) = await invoices_of(invoicing, customer_id)
    assert draft.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert minor(draft.subtotal) == 30
    assert draft.auto_finalize_time.ToDatetime(tzinfo=UTC) == FEB_1 + timedelta(hours=1)
    # Late usage for January, reported within the grace period, and February usage.
    await invoicing.record(catalog.input_meter, customer_id, FEB_1 - timedelta(minutes=5), 20)
    await invoicing.record(catalog.input_meter, customer_id, FEB_1 + timedelta(minutes=1), 1000)
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=1))
    (final,) = await invoices_of(invoicing, customer_id)
    assert final.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert minor(final.subtotal) == 90
    assert final.lines[0].quantity.value == "30"


async def test_negative_usage_bills_zero_i10(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, _ = await hypernian_customer(invoicing, grant=0)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), -5)
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))
    (invoice,) = await invoices_of(invoicing, customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    assert (invoice.lines[0].usage_quantity.value, invoice.lines[0].quantity.value) == ("-5", "0")


async def test_preview_has_tentative_credits_and_no_side_effects_i14(invoicing: Invoicing) -> None:
    catalog, _, customer_id, created, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0, 200)  # 6.00
    reply = await invoicing.invoices.CreateInvoicePreview(
        invoice_service_pb2.CreateInvoicePreviewRequest(
            subscription_id=created.subscription.id, as_of_time=timestamp_to_proto(T0 + timedelta(days=2))
        ),
        metadata=invoicing.metadata,
    )
    preview = reply.invoice
    assert (preview.id, preview.status) == ("", invoice_pb2.INVOICE_STATUS_DRAFT)
    assert (minor(preview.subtotal), minor(preview.total_credits_applied), minor(preview.amount_due)) == (
        600,
        600,
        0,
    )
    assert preview.lines[0].credits[0].credit_balance_transaction_id == ""
    assert all(line.id == "" for line in preview.lines)
    assert await invoicing.grant_balance(customer_id, grant) == (1000, 1000)  # nothing drawn or held
    assert await invoicing.draws(customer_id) == {}
    assert await invoices_of(invoicing, customer_id) == []
    _, reason, fields = await failure(
        invoicing.invoices.CreateInvoicePreview(
            invoice_service_pb2.CreateInvoicePreviewRequest(
                subscription_id=created.subscription.id, as_of_time=timestamp_to_proto(MAR_1)
            ),
            metadata=invoicing.metadata,
        )
    )
    assert (reason, fields) == ("INVALID_AS_OF_TIME", ["as_of_time"])


async def test_preview_at_the_first_instant_counts_usage_stamped_then_i14(invoicing: Invoicing) -> None:
    # The test clock stands at T0: on the minute, and the first instant of the period. An
    # event stamped T0 has happened by then, so a preview "now" bills it.
    catalog, _, customer_id, created, _ = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0, 3000)
    reply = await invoicing.invoices.CreateInvoicePreview(
        invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=created.subscription.id),
        metadata=invoicing.metadata,
    )
    preview = reply.invoice
    assert (minor(preview.subtotal), minor(preview.total_credits_applied), minor(preview.amount_due)) == (
        9000,
        1000,
        8000,
    )


async def test_void_reinstates_and_statuses_follow_the_rules_i12(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0, 3000)
    await advance(invoicing, clock_id, FEB_1 + timedelta(minutes=1))
    (draft,) = await invoices_of(invoicing, customer_id)
    assert draft.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert minor(draft.total_credits_applied) == 1000  # held (C-13)
    assert await invoicing.grant_balance(customer_id, grant) == (1000, 0)  # held, not drawn
    code, reason, _ = await failure(
        invoicing.invoices.VoidInvoice(
            invoice_service_pb2.VoidInvoiceRequest(id=draft.id), metadata=invoicing.metadata
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_INVOICE_STATUS")
    finalized = await invoicing.invoices.FinalizeInvoice(
        invoice_service_pb2.FinalizeInvoiceRequest(id=draft.id, request_id="f-1"), metadata=invoicing.metadata
    )
    assert finalized.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert await invoicing.grant_balance(customer_id, grant) == (0, 0)
    again = await invoicing.invoices.FinalizeInvoice(
        invoice_service_pb2.FinalizeInvoiceRequest(id=draft.id, request_id="f-1"), metadata=invoicing.metadata
    )
    assert again == finalized
    assert (
        await failure(
            invoicing.invoices.FinalizeInvoice(
                invoice_service_pb2.FinalizeInvoiceRequest(id=draft.id), metadata=invoicing.metadata
            )
        )
    )[1] == "INVALID_INVOICE_STATUS"
    voided = await invoicing.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=draft.id), metadata=invoicing.metadata
    )
    assert voided.invoice.status == invoice_pb2.INVOICE_STATUS_VOID
    assert voided.invoice.credit_applications[0].reinstate_credit_balance_transaction_id.startswith("cbt_")
    assert await invoicing.grant_balance(customer_id, grant) == (1000, 1000)
    assert await invoicing.draws(customer_id) == {draft.id: 1}
    for call in (invoicing.invoices.PayInvoice, invoicing.invoices.MarkInvoiceUncollectible):
        request_type = (
            invoice_service_pb2.PayInvoiceRequest
            if call is invoicing.invoices.PayInvoice
            else (invoice_service_pb2.MarkInvoiceUncollectibleRequest)
        )
        assert (await failure(call(request_type(id=draft.id), metadata=invoicing.metadata)))[1] == (
            "INVALID_INVOICE_STATUS"
        )


async def test_open_invoice_can_be_paid_or_written_off_i12(invoicing: Invoicing) -> None:
    seat = await licensed_price(invoicing, "1500")
    first, second = await customer(invoicing), await customer(invoicing)
    paid = (await subscribe(invoicing, first, seat, quantity=2)).invoice
    assert (paid.status, paid.billing_reason) == (
        invoice_pb2.INVOICE_STATUS_OPEN,
        invoice_pb2.BILLING_REASON_SUBSCRIPTION_CREATE,
    )
    assert minor(paid.amount_due) == 3000
    reply = await invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=paid.id), metadata=invoicing.metadata
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    assert minor(reply.invoice.amount_paid) == 3000 and minor(reply.invoice.amount_remaining) == 0
    written_off = (await subscribe(invoicing, second, seat, quantity=1)).invoice
    reply = await invoicing.invoices.MarkInvoiceUncollectible(
        invoice_service_pb2.MarkInvoiceUncollectibleRequest(id=written_off.id), metadata=invoicing.metadata
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_UNCOLLECTIBLE


async def test_cancel_now_drafts_the_usage_so_far_i3(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, created, grant = await hypernian_customer(invoicing, grant=10)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 10)
    await advance(invoicing, clock_id, T0 + timedelta(days=10, seconds=30))
    reply = await invoicing.subscriptions.CancelSubscription(
        subscription_service_pb2.CancelSubscriptionRequest(id=created.subscription.id),
        metadata=invoicing.metadata,
    )
    assert reply.subscription.status == subscription_pb2.SUBSCRIPTION_STATUS_CANCELED
    invoice = reply.invoice
    assert invoice.billing_reason == invoice_pb2.BILLING_REASON_SUBSCRIPTION_CANCEL
    assert invoice.period_end.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=10, seconds=30)
    assert minor(invoice.subtotal) == 30
    # The final draft holds its credits (C-13).
    assert await invoicing.grant_balance(customer_id, grant) == (10, 0)
    assert (
        await failure(
            invoicing.subscriptions.CancelSubscription(
                subscription_service_pb2.CancelSubscriptionRequest(id=created.subscription.id),
                metadata=invoicing.metadata,
            )
        )
    )[1] == "SUBSCRIPTION_CANCELED"
    await advance(invoicing, clock_id, T0 + timedelta(days=11))
    (final,) = await invoices_of(invoicing, customer_id)
    assert final.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert (minor(final.total_credits_applied), minor(final.amount_due)) == (10, 20)
    assert await invoicing.grant_balance(customer_id, grant) == (0, 0)
    await advance(invoicing, clock_id, MAR_1)
    assert len(await invoices_of(invoicing, customer_id)) == 1


async def test_cancel_at_period_end_bills_the_last_period_only_i3(invoicing: Invoicing) -> None:
    seat = await licensed_price(invoicing, "1000")
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    created = await subscribe(invoicing, customer_id, seat, quantity=1)
    reply = await invoicing.subscriptions.CancelSubscription(
        subscription_service_pb2.CancelSubscriptionRequest(id=created.subscription.id, at_period_end=True),
        metadata=invoicing.metadata,
    )
    assert reply.subscription.cancel_at_period_end and not reply.HasField("invoice")
    # Two steps: one advance goes at most two intervals of the monthly price (I-18).
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))
    await advance(invoicing, clock_id, MAR_1 + timedelta(hours=2))
    _, cancel = await invoices_of(invoicing, customer_id)
    assert cancel.billing_reason == invoice_pb2.BILLING_REASON_SUBSCRIPTION_CANCEL
    assert list(cancel.lines) == [] and cancel.status == invoice_pb2.INVOICE_STATUS_PAID
    sub = await invoicing.subscriptions.GetSubscription(
        subscription_service_pb2.GetSubscriptionRequest(id=created.subscription.id),
        metadata=invoicing.metadata,
    )
    assert sub.subscription.status == subscription_pb2.SUBSCRIPTION_STATUS_CANCELED
    assert sub.subscription.cancel_time.ToDatetime(tzinfo=UTC) == FEB_1


async def test_subscription_items_share_currency_and_interval_i3(invoicing: Invoicing) -> None:
    from drawdown.invoicing.v1 import price_pb2

    monthly = await licensed_price(invoicing)
    yearly = await licensed_price(invoicing, interval=price_pb2.RECURRING_INTERVAL_YEAR)
    customer_id = await customer(invoicing)
    _, reason, fields = await failure(subscribe(invoicing, customer_id, monthly, yearly, quantity=1))
    assert (reason, fields) == ("MIXED_INTERVALS", ["subscription.items[1].price_id"])
    _, reason, _ = await failure(subscribe(invoicing, customer_id, "price_missing"))
    assert reason == "PRICE_NOT_FOUND"


async def test_advancing_runs_every_period_in_time_order_i16(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing, grant=1000)
    # Only for output tokens (never used here): left whole until it expires mid-March.
    expiring = await invoicing.grant(
        customer_id, 500, expire=MAR_1 + timedelta(days=15), price_ids=(catalog.output_price,)
    )
    # Two steps: one advance goes at most two intervals of the monthly prices (I-18), and
    # usage is sent for the clock's time (recording moves the clock to it).
    for month in (1, 2):
        await invoicing.record(catalog.input_meter, customer_id, T0.replace(month=month, day=5), 100)
    await advance(invoicing, clock_id, MAR_1)
    await invoicing.record(catalog.input_meter, customer_id, T0.replace(month=3, day=5), 100)
    await advance(invoicing, clock_id, T0.replace(month=4, day=2))
    invoices = await invoices_of(invoicing, customer_id)
    assert [i.period_end.ToDatetime(tzinfo=UTC) for i in invoices] == [FEB_1, MAR_1, T0.replace(month=4)]
    assert [minor(i.total_credits_applied) for i in invoices] == [300, 300, 300]
    assert all(i.status == invoice_pb2.INVOICE_STATUS_PAID for i in invoices)
    assert await invoicing.ledger(customer_id, grant) == 100
    assert await invoicing.draws(customer_id) == {i.id: 1 for i in invoices}
    # The test clock's expiry sweep ran on the clock's time: the expiry is posted, dated
    # at the grant's expire_time, although the suite clock never got there.
    assert invoicing.clock.now() < MAR_1 + timedelta(days=15)
    (expiry,) = [
        t
        for t in await invoicing.transactions(customer_id)
        if t.debit.type == credit_balance_pb2.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED
    ]
    assert (expiry.credit_grant_id, minor(expiry.debit.amount)) == (expiring, 500)
    assert expiry.effective_time.ToDatetime(tzinfo=UTC) == MAR_1 + timedelta(days=15)
    assert await invoicing.ledger(customer_id, expiring) == 0


async def test_lines_rate_tiers_transforms_and_round_half_up_once_i2_i10(invoicing: Invoicing) -> None:
    from drawdown.invoicing.v1 import catalog_service_pb2, price_pb2, product_pb2

    product = await invoicing.catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="tokens")),
        metadata=invoicing.metadata,
    )

    async def price(meter_id: str, **fields) -> str:
        message = price_pb2.Price(
            product_id=product.product.id,
            currency="USD",
            type=price_pb2.PRICE_TYPE_METERED,
            recurring=price_pb2.Recurring(interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1),
            meter_id=meter_id,
            **fields,
        )
        reply = await invoicing.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(price=message), metadata=invoicing.metadata
        )
        return reply.price.id

    half, packages, volume = await invoicing.meter(), await invoicing.meter(), await invoicing.meter()
    prices = [
        await price(half, unit_amount_decimal={"value": "0.5"}),
        await price(
            packages,
            unit_amount_decimal={"value": "7"},
            transform_quantity=price_pb2.TransformQuantity(
                divide_by=1000, round=price_pb2.TRANSFORM_QUANTITY_ROUND_UP
            ),
        ),
        await price(
            volume,
            billing_scheme=price_pb2.BILLING_SCHEME_TIERED,
            tiers_mode=price_pb2.TIERS_MODE_VOLUME,
            tiers=[
                price_pb2.PriceTier(up_to=10, unit_amount_decimal={"value": "10"}),
                price_pb2.PriceTier(unit_amount_decimal={"value": "1"}, flat_amount_decimal={"value": "5"}),
            ],
        ),
    ]
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    await subscribe(invoicing, customer_id, *prices)
    for meter_id, value in ((half, 3), (packages, 1001), (volume, 20)):
        await invoicing.record(meter_id, customer_id, T0 + timedelta(days=1), value)
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))
    (invoice,) = await invoices_of(invoicing, customer_id)
    # 3 × 0.5 = 1.5 → 2; ⌈1001 / 1000⌉ = 2 packages × 7 = 14; 20 in the open tier: 20 × 1 + 5 = 25.
    assert [minor(line.amount) for line in invoice.lines] == [2, 14, 25]
    assert [line.quantity.value for line in invoice.lines] == ["3", "2", "20"]
    assert [line.usage_quantity.value for line in invoice.lines] == ["3", "1001", "20"]
    assert not invoice.lines[2].HasField("unit_amount_decimal")
    assert minor(invoice.subtotal) == 41
