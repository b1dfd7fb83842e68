"""Invoicing's events through its EventService (E-1, E-2): each change of a customer, a
subscription, an invoice, a credit purchase or a test clock is recorded once, with its
resource after the change, its customer, its test clock and the request id; refused
changes and replays record nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import pytest
from google.protobuf import field_mask_pb2
from google.type import money_pb2

from drawdown.invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    subscription_pb2,
    subscription_service_pb2,
    test_clock_pb2,
)
from drawdown.invoicing.v1 import event_service_pb2 as events_pb
from drawdown.invoicing.v1 import event_service_pb2_grpc as events_grpc
from drawdown.type.v1 import event_pb2
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
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import failure

FEB_1 = T0.replace(month=2)


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


async def events_of(invoicing: Invoicing, **filters) -> list[event_pb2.Event]:
    stub = events_grpc.EventServiceStub(invoicing.suite.channel("invoicing"))
    found: list[event_pb2.Event] = []
    token = ""
    while True:
        reply = await stub.ListEvents(
            events_pb.ListEventsRequest(page_size=100, page_token=token, **filters),
            metadata=invoicing.metadata,
        )
        found.extend(reply.events)
        token = reply.next_page_token
        if not token:
            return found


def unpacked(event: event_pb2.Event, message_type):
    message = message_type()
    assert event.data.Unpack(message), event.data.type_url
    return message


async def test_customer_events_carry_the_customer_its_clock_and_the_request_id(invoicing: Invoicing) -> None:
    clock_id = await clock_at(invoicing)
    request = customer_service_pb2.CreateCustomerRequest(
        customer=customer_pb2.Customer(name="Jenny Rosen", test_clock_id=clock_id), request_id="new-jenny"
    )
    created = (await invoicing.customers.CreateCustomer(request, metadata=invoicing.metadata)).customer
    await invoicing.customers.CreateCustomer(request, metadata=invoicing.metadata)  # a replay
    await invoicing.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(id=created.id, name="Jenny R."),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=invoicing.metadata,
    )
    await failure(  # refused: changes nothing, records nothing
        invoicing.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(id=created.id, email="not an email"),
                update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            ),
            metadata=invoicing.metadata,
        )
    )
    events = await events_of(invoicing, customer_id=created.id)
    assert [e.type for e in events] == ["customer.created", "customer.updated"]
    assert [unpacked(e, customer_pb2.Customer).name for e in events] == ["Jenny Rosen", "Jenny R."]
    assert {(e.customer_id, e.test_clock_id) for e in events} == {(created.id, clock_id)}
    assert [e.request_id for e in events] == ["new-jenny", ""]


async def test_a_subscription_and_its_invoices_record_each_status_they_reach(invoicing: Invoicing) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    created = await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    await invoicing.grant(customer_id, 1000)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=3), 3000)
    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))  # drafted, then finalized
    (invoice,) = await invoices_of(invoicing, customer_id)
    await invoicing.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=invoice.id), metadata=invoicing.metadata
    )
    await invoicing.subscriptions.CancelSubscription(
        subscription_service_pb2.CancelSubscriptionRequest(id=created.subscription.id),
        metadata=invoicing.metadata,
    )

    events = await events_of(invoicing, customer_id=customer_id)
    assert [e.type for e in events] == [
        "customer.created",
        "subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.voided",
        "invoice.created",  # the final draft of the canceled subscription's usage so far
        "subscription.canceled",
    ]
    by_type = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    finalized = unpacked(by_type["invoice.finalized"][0], invoice_pb2.Invoice)
    assert (finalized.id, finalized.status) == (invoice.id, invoice_pb2.INVOICE_STATUS_OPEN)
    assert (
        unpacked(by_type["invoice.voided"][0], invoice_pb2.Invoice).status == invoice_pb2.INVOICE_STATUS_VOID
    )
    canceled = unpacked(by_type["subscription.canceled"][0], subscription_pb2.Subscription)
    assert canceled.status == subscription_pb2.SUBSCRIPTION_STATUS_CANCELED
    assert {e.test_clock_id for e in events} == {clock_id}
    # Two advances: recording usage at T0 + 3 days moved the clock there first.
    ready = await events_of(invoicing, types=["test_clock.ready"])
    assert [unpacked(e, test_clock_pb2.TestClock).frozen_time.ToDatetime(tzinfo=UTC) for e in ready] == [
        T0 + timedelta(days=3),
        FEB_1 + timedelta(hours=2),
    ]
    assert {(e.customer_id, e.test_clock_id) for e in ready} == {("", clock_id)}


async def test_paid_and_written_off_invoices_and_paid_purchases_record_their_events(
    invoicing: Invoicing,
) -> None:
    seat = await licensed_price(invoicing, "1500")
    first, second, buyer = await customer(invoicing), await customer(invoicing), await customer(invoicing)
    to_pay = (await subscribe(invoicing, first, seat, quantity=2)).invoice
    await invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=to_pay.id, request_id="pay-seats"),
        metadata=invoicing.metadata,
    )
    to_write_off = (await subscribe(invoicing, second, seat, quantity=1)).invoice
    await invoicing.invoices.MarkInvoiceUncollectible(
        invoice_service_pb2.MarkInvoiceUncollectibleRequest(id=to_write_off.id), metadata=invoicing.metadata
    )
    purchase = (
        await invoicing.invoices.CreateCreditPurchase(
            invoice_service_pb2.CreateCreditPurchaseRequest(
                customer_id=buyer,
                amount=money_pb2.Money(currency_code="USD", units=25),
                name="Top-up",
                applicability_config=invoice_pb2.CreditApplicabilityConfig(
                    price_type=invoice_pb2.CREDIT_PRICE_TYPE_METERED
                ),
            ),
            metadata=invoicing.metadata,
        )
    ).invoice
    await invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=purchase.id), metadata=invoicing.metadata
    )

    def invoice_events(events):
        return [e.type for e in events if e.type.startswith(("invoice.", "credit_purchase."))]

    paid_events = await events_of(invoicing, customer_id=first)
    assert invoice_events(paid_events) == ["invoice.created", "invoice.finalized", "invoice.paid"]
    assert [e.request_id for e in paid_events if e.type == "invoice.paid"] == ["pay-seats"]
    assert invoice_events(await events_of(invoicing, customer_id=second)) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.marked_uncollectible",
    ]
    bought = await events_of(invoicing, customer_id=buyer)
    assert invoice_events(bought) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "credit_purchase.paid",
    ]
    paid_purchase = unpacked(bought[-1], invoice_pb2.Invoice)
    assert paid_purchase.id == purchase.id and paid_purchase.credit_purchase.credit_grant_id
