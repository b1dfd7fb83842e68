"""Auto top-ups (R-6) and balance alerts (R-7) through the real suite: the spendable
balance (R-2) falls below a threshold by authorizations, captures or usage sent to
metering directly, and each crossing acts once.

As in ``test_usage_authorizations_api``: the customer lives on a test clock at T0, input
tokens cost 3 ¢ and output tokens 5 ¢, and a 10.00 USD grant is held. Every moment comes
from the test clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from google.type import decimal_pb2

from drawdown.invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2
from drawdown.invoicing.v1 import event_service_pb2 as events_pb
from drawdown.invoicing.v1 import event_service_pb2_grpc as events_grpc
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc as authorization_grpc
from invoicing_service.service.scheduler import WATCH_SWEEP_EVERY
from tests.integration.credits.credit_api_builders import minor, reason, violated_fields
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    clock_at,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_events_api import events_of, unpacked
from tests.integration.invoicing.test_invoicing_faults_api import DOWN, recovery_billing
from tests.integration.invoicing.test_invoicing_purchases_api import CREATE_GRANT
from tests.integration.invoicing.test_usage_authorizations_api import Seller, usd

PAID = customer_pb2.AUTO_TOP_UP_COLLECTION_PAID
OPEN = customer_pb2.AUTO_TOP_UP_COLLECTION_OPEN
CREDIT_PURCHASE = invoice_pb2.BILLING_REASON_CREDIT_PURCHASE
DAY = duration_pb2.Duration(seconds=24 * 3600)


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


async def seller_at(invoicing: Invoicing, at=T0) -> Seller:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing, at)
    customer_id = await customer(invoicing, clock_id)
    await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    grant_id = await invoicing.grant(customer_id, 1000)
    return Seller(invoicing, catalog, customer_id, clock_id, grant_id)


@pytest.fixture
async def seller(invoicing: Invoicing) -> Seller:
    return await seller_at(invoicing)


def top_up(threshold: int, *, amount: int = 0, recharge_to: int = 0, cap: int = 100_000, collection=PAID):
    message = customer_pb2.AutoTopUp(threshold=usd(threshold), monthly_cap=usd(cap), collection=collection)
    if amount:
        message.amount.CopyFrom(usd(amount))
    if recharge_to:
        message.recharge_to.CopyFrom(usd(recharge_to))
    return message


def alert(*, amount: int | None = None, percent: str = "") -> customer_pb2.BalanceAlert:
    if percent:
        return customer_pb2.BalanceAlert(
            currency="USD", percent_of_granted=decimal_pb2.Decimal(value=percent)
        )
    return customer_pb2.BalanceAlert(currency="USD", amount=usd(amount or 0))


async def watch(seller: Seller, *, top_ups=(), alerts=(), path: str = "credit_settings"):
    reply = await seller.invoicing.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(
                id=seller.customer_id,
                credit_settings=customer_pb2.CustomerCreditSettings(
                    auto_top_ups=list(top_ups), balance_alerts=list(alerts)
                ),
            ),
            update_mask={"paths": [path]},
        ),
        metadata=seller.invoicing.metadata,
    )
    return reply.customer


async def purchases(seller: Seller) -> list[invoice_pb2.Invoice]:
    reply = await seller.invoicing.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=seller.customer_id, page_size=100),
        metadata=seller.invoicing.metadata,
    )
    found = [i for i in reply.invoices if i.billing_reason == CREDIT_PURCHASE]
    return sorted(found, key=lambda i: (i.create_time.ToDatetime(), i.id))


async def crossings(seller: Seller) -> list[customer_pb2.CreditBalanceThresholdCrossed]:
    events = await events_of(
        seller.invoicing, customer_id=seller.customer_id, types=["credit_balance.threshold_crossed"]
    )
    return [unpacked(e, customer_pb2.CreditBalanceThresholdCrossed) for e in events]


async def top_up_events(seller: Seller) -> list[invoice_pb2.Invoice]:
    events = await events_of(
        seller.invoicing, customer_id=seller.customer_id, types=["credit_balance.auto_top_up"]
    )
    return [unpacked(e, invoice_pb2.Invoice) for e in events]


@pytest.mark.parametrize("collection", [OPEN, PAID], ids=["open", "paid"])
async def test_r6_32_concurrent_captures_crossing_the_threshold_make_one_top_up(
    seller: Seller, collection
) -> None:
    await watch(seller, top_ups=[top_up(500, amount=1000, collection=collection)])
    # 32 estimates of 1 token (3 ¢ each: spendable 9.04), each captured with 10 (30 ¢):
    # together they take the balance from 9.04 through 5.00 down to 0.40.
    authorizations = [await seller.authorize(1) for _ in range(32)]
    assert await seller.spendable() == 1000 - 32 * 3
    address = seller.invoicing.suite.address("invoicing")
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(32)
    ]
    try:
        await asyncio.gather(
            *(
                seller.capture(a.id, 10, stub=authorization_grpc.UsageAuthorizationServiceStub(channel))
                for a, channel in zip(authorizations, channels, strict=True)
            )
        )
    finally:
        for channel in channels:
            await channel.close()

    [bought] = await purchases(seller)
    assert minor(bought.total) == 1000
    assert [i.id for i in await top_up_events(seller)] == [bought.id]
    if collection == OPEN:
        assert bought.status == invoice_pb2.INVOICE_STATUS_OPEN
        assert await seller.spendable() == 40
    else:
        assert bought.status == invoice_pb2.INVOICE_STATUS_PAID
        assert bought.credit_purchase.credit_grant_id
        assert await seller.spendable() == 1040


async def test_r6_paid_collection_creates_the_grant_at_once_and_the_top_up_arms_again(seller: Seller) -> None:
    await watch(seller, top_ups=[top_up(500, amount=1000)])

    await seller.authorize(amount=600)

    [bought] = await purchases(seller)
    assert bought.status == invoice_pb2.INVOICE_STATUS_PAID
    grants = {g.id: g for g in await seller.invoicing.grants_of(seller.customer_id)}
    assert minor(grants[bought.credit_purchase.credit_grant_id].amount) == 1000
    assert await seller.spendable() == 1400
    await seller.authorize(amount=1000)  # 4.00 again: a second crossing
    assert [minor(i.total) for i in await purchases(seller)] == [1000, 1000]
    assert await seller.spendable() == 1400


async def test_r6_a_paid_top_up_whose_grant_answer_was_lost_is_completed_once_by_recovery(
    seller: Seller,
) -> None:
    await watch(seller, top_ups=[top_up(500, amount=1000)])
    seller.invoicing.credits_faults.fail(CREATE_GRANT, when="after", times=DOWN)

    await seller.authorize(amount=600)  # authorized all the same; the purchase is paying

    seller.invoicing.credits_faults.clear()
    async with recovery_billing(seller.invoicing) as recovery:
        assert await recovery.recover_in_flight(timedelta(0)) == 1
    [bought] = await purchases(seller)
    assert bought.status == invoice_pb2.INVOICE_STATUS_PAID
    granted = [g.id for g in await seller.invoicing.grants_of(seller.customer_id) if g.id != seller.grant_id]
    assert granted == [bought.credit_purchase.credit_grant_id]
    await seller.authorize(amount=100)  # 13.00: seen above, armed again
    await seller.authorize(amount=1000)  # 3.00: a second crossing
    assert [minor(i.total) for i in await purchases(seller)] == [1000, 1000]


async def test_r6_open_collection_waits_for_pay_invoice_and_buys_once_meanwhile(seller: Seller) -> None:
    await watch(seller, top_ups=[top_up(500, recharge_to=2000, collection=OPEN)])

    await seller.authorize(amount=600)  # spendable 4.00: recharge to 20.00 buys 16.00
    await seller.authorize(amount=100)  # still below, still the one crossing

    [bought] = await purchases(seller)
    assert (bought.status, minor(bought.total)) == (invoice_pb2.INVOICE_STATUS_OPEN, 1600)
    assert await seller.spendable() == 300
    paid = await seller.invoicing.invoices.PayInvoice(
        invoice_service_pb2.PayInvoiceRequest(id=bought.id), metadata=seller.invoicing.metadata
    )
    assert paid.invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    assert await seller.spendable() == 1900
    await seller.authorize(amount=1500)  # back above (re-armed), then below: 4.00
    assert [minor(i.total) for i in await purchases(seller)] == [1600, 1600]


async def test_r6_the_monthly_cap_holds_within_the_customers_month_and_resets_the_next(
    invoicing: Invoicing,
) -> None:
    # Two hours before February on the customer's clock; the authorizations last a day.
    seller = await seller_at(invoicing, T0 + timedelta(days=30, hours=22))
    await watch(seller, top_ups=[top_up(500, amount=1000, cap=1500)])

    await seller.authorize(amount=600, ttl=DAY)  # 4.00: buys 10.00
    await seller.authorize(amount=1000, ttl=DAY)  # 4.00: the cap leaves 5.00
    await seller.authorize(amount=500, ttl=DAY)  # 4.00: the cap leaves nothing
    assert [minor(i.total) for i in await purchases(seller)] == [1000, 500]
    assert await seller.spendable() == 400

    await seller.advance(timedelta(hours=2))  # February: the cap is whole again

    assert [minor(i.total) for i in await purchases(seller)] == [1000, 500, 1000]
    assert await seller.spendable() == 1400


async def test_r7_an_alert_fires_once_per_downward_crossing_and_arms_again_above(seller: Seller) -> None:
    await watch(seller, alerts=[alert(amount=500)])

    first = await seller.authorize(amount=600)  # 4.00
    await seller.authorize(amount=100)  # 3.00: still the same crossing
    await seller.release(first.id)  # 9.00: armed again
    await seller.authorize(amount=600)  # 3.00: a new crossing

    fired = await crossings(seller)
    assert [(minor(c.threshold), minor(c.spendable_balance)) for c in fired] == [(500, 400), (500, 300)]
    assert fired[0].customer_id == seller.customer_id
    assert fired[0].balance_alert == alert(amount=500)
    assert fired[0].as_of_time.ToDatetime(tzinfo=UTC) == T0


async def test_r7_a_percent_of_granted_threshold_follows_what_was_granted(seller: Seller) -> None:
    await watch(seller, alerts=[alert(percent="50")])

    await seller.authorize(amount=600)  # 4.00 below half of 10.00
    await seller.invoicing.grant(seller.customer_id, 1000)  # 14.00, half of 20.00 is 10.00
    await seller.authorize(amount=100)  # 13.00: above, armed again
    await seller.authorize(amount=400)  # 9.00: below 10.00

    fired = await crossings(seller)
    assert [(minor(c.threshold), minor(c.granted), minor(c.spendable_balance)) for c in fired] == [
        (500, 1000, 400),
        (1000, 2000, 900),
    ]


async def test_r7_usage_sent_straight_to_metering_crosses_at_the_next_evaluation(seller: Seller) -> None:
    await watch(seller, alerts=[alert(amount=800)], top_ups=[top_up(800, amount=500)])
    await seller.invoicing.record(seller.catalog.output_meter, seller.customer_id, T0, 60)  # 3.00
    assert await crossings(seller) == [] and await purchases(seller) == []

    await seller.advance(timedelta(seconds=1))

    [fired] = await crossings(seller)
    assert minor(fired.spendable_balance) == 700
    assert [minor(i.total) for i in await purchases(seller)] == [500]
    assert await seller.spendable() == 1200


async def test_r7_on_the_wall_clock_the_scheduler_finds_usage_sent_straight_to_metering(
    invoicing: Invoicing,
) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    customer_id = await customer(invoicing)
    await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    await invoicing.grant(customer_id, 1000)
    seller = Seller(invoicing, catalog, customer_id, "", "")
    await watch(seller, alerts=[alert(amount=800)])
    stream = events_grpc.EventServiceStub(invoicing.suite.channel("invoicing")).StreamEvents(
        events_pb.StreamEventsRequest(
            after_cursor="0", types=["credit_balance.threshold_crossed"], customer_id=customer_id
        ),
        metadata=invoicing.metadata,
    )
    try:
        await invoicing.record(catalog.output_meter, customer_id, T0, 60)  # 3.00
        invoicing.clock.advance(WATCH_SWEEP_EVERY)  # the scheduler's next tick judges every watch

        received = await asyncio.wait_for(stream.read(), 30)
    finally:
        stream.cancel()
    crossed = unpacked(received.event, customer_pb2.CreditBalanceThresholdCrossed)
    assert (minor(crossed.threshold), minor(crossed.spendable_balance)) == (800, 700)


async def test_r6_r7_settings_are_kept_and_each_list_replaced_by_its_path(seller: Seller) -> None:
    top_ups, alerts = [top_up(500, amount=1000, collection=OPEN)], [alert(amount=300), alert(percent="12.5")]
    await watch(seller, top_ups=top_ups, alerts=alerts)

    changed = await watch(seller, alerts=[alert(amount=100)], path="credit_settings.balance_alerts")

    assert list(changed.credit_settings.auto_top_ups) == top_ups
    assert list(changed.credit_settings.balance_alerts) == [alert(amount=100)]
    cleared = await watch(seller, path="credit_settings.auto_top_ups")
    assert list(cleared.credit_settings.auto_top_ups) == []


@pytest.mark.parametrize(
    ("settings", "field", "expected"),
    [
        (
            {
                "auto_top_ups": [
                    customer_pb2.AutoTopUp(threshold=usd(500), amount=usd(100), monthly_cap=usd(900))
                ]
            },
            "customer.credit_settings.auto_top_ups[0].collection",
            "INVALID_ARGUMENT",
        ),
        (
            {"auto_top_ups": [top_up(500)]},
            "customer.credit_settings.auto_top_ups[0].amount",
            "INVALID_ARGUMENT",
        ),
        (
            {"auto_top_ups": [top_up(500, recharge_to=500)]},
            "customer.credit_settings.auto_top_ups[0].recharge_to",
            "INVALID_AMOUNT",
        ),
        (
            {"auto_top_ups": [top_up(500, amount=100, cap=0)]},
            "customer.credit_settings.auto_top_ups[0].monthly_cap",
            "INVALID_AMOUNT",
        ),
        (
            {"auto_top_ups": [top_up(500, amount=100), top_up(100, amount=100)]},
            "customer.credit_settings.auto_top_ups[1].threshold",
            "CURRENCY_MISMATCH",
        ),
        (
            {"balance_alerts": [alert(percent="100.5")]},
            "customer.credit_settings.balance_alerts[0].percent_of_granted",
            "INVALID_ARGUMENT",
        ),
        (
            {"balance_alerts": [alert(percent="12.345")]},
            "customer.credit_settings.balance_alerts[0].percent_of_granted",
            "INVALID_ARGUMENT",
        ),
        (
            {"balance_alerts": [alert(amount=100), alert(amount=100)]},
            "customer.credit_settings.balance_alerts[1]",
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_r6_r7_bad_settings_name_their_field(invoicing: Invoicing, settings, field, expected) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await invoicing.customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    name="Jenny Rosen", credit_settings=customer_pb2.CustomerCreditSettings(**settings)
                )
            ),
            metadata=invoicing.metadata,
        )

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (violated_fields(refused.value), reason(refused.value)) == ([field], expected)
