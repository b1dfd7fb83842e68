"""A test clock lives in every service (I-18), through the real servers: invoicing tells
metering and credits (their TestClockTimeService) a clock's time and customers when a
customer is created on it, before an advance runs its billing actions, and when it is
deleted; a peer that cannot be told fails the call UNAVAILABLE with nothing half done, and
the retry completes it. One advance goes at most two intervals of the shortest
subscription on the clock (two years without one), as Stripe's test clocks do.

The fault interceptors in front of the peers (``PeerFaults``) record what invoicing told
them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.type import money_pb2

from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2
from drawdown.invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    price_pb2,
    subscription_service_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from drawdown.metering.v1 import meter_event_pb2, meter_event_service_pb2
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
    metered_price,
    minor,
    past_grace,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import failure
from tests.integration.invoicing.test_invoicing_faults_api import DOWN

SET = "TestClockTimeService/SetTestClockTime"
DELETE = "TestClockTimeService/DeleteTestClockTime"


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


def peers(invoicing: Invoicing):
    return (invoicing.metering_faults, invoicing.credits_faults)


def create_customer(invoicing: Invoicing, clock_id: str, request_id: str):
    return invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(name="Jenny Rosen", test_clock_id=clock_id), request_id=request_id
        ),
        metadata=invoicing.metadata,
    )


async def get_clock(invoicing: Invoicing, clock_id: str) -> test_clock_pb2.TestClock:
    reply = await invoicing.clocks.GetTestClock(
        test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=invoicing.metadata
    )
    return reply.test_clock


def advance_request(clock_id: str, to: datetime, request_id: str = ""):
    return test_clock_service_pb2.AdvanceTestClockRequest(
        id=clock_id, frozen_time=timestamp_to_proto(to), request_id=request_id
    )


# -- telling the peers -------------------------------------------------------------------


async def test_a_customer_created_on_a_clock_is_attached_in_metering_and_credits_first_i18(
    invoicing: Invoicing,
) -> None:
    clock_id = await clock_at(invoicing, T0 + timedelta(days=3))
    created = (await create_customer(invoicing, clock_id, "c-1")).customer
    for peer in peers(invoicing):
        (told,) = peer.set_requests()
        assert (told.test_clock_id, list(told.customer_ids)) == (clock_id, [created.id])
        assert told.frozen_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=3)
        assert told.request_id  # a retry is the same request to the peer
    await customer(invoicing)  # on the wall clock: nothing to tell
    assert [len(peer.set_requests()) for peer in peers(invoicing)] == [1, 1]


async def test_create_customer_with_a_peer_down_creates_nothing_and_its_retry_succeeds_i18(
    invoicing: Invoicing,
) -> None:
    clock_id = await clock_at(invoicing)
    invoicing.credits_faults.fail(SET, when="before", times=DOWN)
    code, reason, _ = await failure(create_customer(invoicing, clock_id, "c-2"))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    listed = await invoicing.customers.ListCustomers(
        customer_service_pb2.ListCustomersRequest(test_clock_id=clock_id), metadata=invoicing.metadata
    )
    assert list(listed.customers) == []

    invoicing.credits_faults.clear()
    created = (await create_customer(invoicing, clock_id, "c-2")).customer
    assert created.test_clock_id == clock_id
    for peer in peers(invoicing):
        assert created.id in [c for told in peer.set_requests() for c in told.customer_ids]
    assert (await create_customer(invoicing, clock_id, "c-2")).customer == created


async def test_an_advance_tells_the_peers_the_new_time_before_its_billing_actions_i18(
    invoicing: Invoicing,
) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_ids = [await customer(invoicing, clock_id) for _ in range(2)]
    subscriptions = [(await subscribe(invoicing, c, catalog.input_price)).subscription for c in customer_ids]
    due = await past_grace(invoicing, subscriptions)
    for peer in peers(invoicing):
        peer.served_order.clear()

    await advance(invoicing, clock_id, due)

    for peer in peers(invoicing):
        told = peer.set_requests()[-1]
        assert (told.test_clock_id, told.frozen_time.ToDatetime(tzinfo=UTC)) == (clock_id, due)
        assert sorted(told.customer_ids) == sorted(customer_ids)
        assert peer.served_order[0] == "SetTestClockTime"  # before any billing action
    assert "ListMeterEventSummaries" in invoicing.metering_faults.served_order
    assert "HoldInvoiceCredits" in invoicing.credits_faults.served_order


async def test_an_advance_with_a_peer_down_fails_unavailable_and_its_retry_tells_them_again_i18(
    invoicing: Invoicing,
) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    subscription = (
        await subscribe(invoicing, await customer(invoicing, clock_id), catalog.input_price)
    ).subscription
    due = await past_grace(invoicing, [subscription])
    invoicing.metering_faults.fail(SET, when="before", times=DOWN)
    request = advance_request(clock_id, due, "adv-1")

    code, reason, _ = await failure(invoicing.clocks.AdvanceTestClock(request, metadata=invoicing.metadata))

    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "METERING_SERVICE_UNAVAILABLE")
    clock = await get_clock(invoicing, clock_id)
    assert (clock.status, clock.frozen_time.ToDatetime(tzinfo=UTC)) == (
        test_clock_pb2.TEST_CLOCK_STATUS_INTERNAL_FAILURE,
        T0,
    )
    assert await invoices_of(invoicing, subscription.customer_id) == []  # no billing action ran
    invoicing.metering_faults.clear()
    told_before = len(invoicing.metering_faults.set_requests())

    reply = await invoicing.clocks.AdvanceTestClock(request, metadata=invoicing.metadata)

    assert reply.test_clock.status == test_clock_pb2.TEST_CLOCK_STATUS_READY
    assert len(invoicing.metering_faults.set_requests()) == told_before + 1
    assert invoicing.metering_faults.set_requests()[-1].frozen_time.ToDatetime(tzinfo=UTC) == due
    (invoice,) = await invoices_of(invoicing, subscription.customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_PAID


async def test_deleting_a_clock_tells_the_peers_and_a_peer_down_deletes_nothing_i18(
    invoicing: Invoicing,
) -> None:
    clock_id = await clock_at(invoicing)
    request = test_clock_service_pb2.DeleteTestClockRequest(id=clock_id, request_id="del-1")
    invoicing.credits_faults.fail(DELETE, when="before", times=DOWN)
    code, reason, _ = await failure(invoicing.clocks.DeleteTestClock(request, metadata=invoicing.metadata))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    assert (await get_clock(invoicing, clock_id)).id == clock_id  # still there

    invoicing.credits_faults.clear()
    await invoicing.clocks.DeleteTestClock(request, metadata=invoicing.metadata)

    assert (await failure(get_clock(invoicing, clock_id)))[1] == "TEST_CLOCK_NOT_FOUND"
    for peer in peers(invoicing):
        assert [told.test_clock_id for told in peer.delete_requests()][-1] == clock_id


async def test_a_peer_that_does_not_serve_test_clock_times_yet_is_skipped_i18(invoicing: Invoicing) -> None:
    for peer in peers(invoicing):
        peer.unimplemented = True  # as a peer of a version before I-18 answers
    clock_id = await clock_at(invoicing)
    created = (await create_customer(invoicing, clock_id, "c-3")).customer
    assert created.test_clock_id == clock_id
    await advance(invoicing, clock_id, T0 + timedelta(days=1))
    await invoicing.clocks.DeleteTestClock(
        test_clock_service_pb2.DeleteTestClockRequest(id=clock_id), metadata=invoicing.metadata
    )


# -- how far one advance goes --------------------------------------------------------------


async def test_an_advance_goes_at_most_two_intervals_of_the_shortest_subscription_i18(
    invoicing: Invoicing,
) -> None:
    meter = await invoicing.meter()
    monthly = await metered_price(invoicing, meter)
    daily = await metered_price(invoicing, meter, interval=price_pb2.RECURRING_INTERVAL_DAY)
    clock_id = await clock_at(invoicing)
    await subscribe(invoicing, await customer(invoicing, clock_id), monthly)
    await subscribe(invoicing, await customer(invoicing, clock_id), daily)
    code, reason, fields = await failure(advance(invoicing, clock_id, T0 + timedelta(days=2, seconds=1)))
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "ADVANCE_TOO_FAR", ["frozen_time"])
    assert (await get_clock(invoicing, clock_id)).status == test_clock_pb2.TEST_CLOCK_STATUS_READY

    empty = await clock_at(invoicing)  # no subscription: two years
    assert (await failure(advance(invoicing, empty, T0.replace(year=2028) + timedelta(seconds=1))))[1] == (
        "ADVANCE_TOO_FAR"
    )
    await advance(invoicing, empty, T0.replace(year=2028))


async def test_the_longest_advance_of_a_daily_price_bills_both_days_i18(invoicing: Invoicing) -> None:
    meter = await invoicing.meter()
    daily = await metered_price(invoicing, meter, interval=price_pb2.RECURRING_INTERVAL_DAY)
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    subscription = (await subscribe(invoicing, customer_id, daily)).subscription
    # Metering judges the customer's events by its clock: usage is sent for the clock's time.
    await invoicing.record(meter, customer_id, T0, 100)

    await advance(invoicing, clock_id, T0 + timedelta(days=2))  # two daily intervals: the most

    first, second = await invoices_of(invoicing, customer_id)
    assert [
        (i.period_start.ToDatetime(tzinfo=UTC), i.period_end.ToDatetime(tzinfo=UTC)) for i in (first, second)
    ] == [
        (T0, T0 + timedelta(days=1)),
        (T0 + timedelta(days=1), T0 + timedelta(days=2)),
    ]
    assert (first.status, minor(first.amount_due)) == (invoice_pb2.INVOICE_STATUS_OPEN, 300)
    # The second day's draft finalizes after its grace period, past the clock's time.
    assert second.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert second.auto_finalize_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=2, hours=1)
    current = await invoicing.subscriptions.GetSubscription(
        subscription_service_pb2.GetSubscriptionRequest(id=subscription.id), metadata=invoicing.metadata
    )
    assert current.subscription.current_period_start.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=2)
    clock = await get_clock(invoicing, clock_id)
    assert (clock.status, clock.frozen_time.ToDatetime(tzinfo=UTC)) == (
        test_clock_pb2.TEST_CLOCK_STATUS_READY,
        T0 + timedelta(days=2),
    )

    # The second day's usage, sent at the clock's time during the grace period, is billed.
    await invoicing.record(meter, customer_id, T0 + timedelta(days=1, hours=1), 200)
    await advance(invoicing, clock_id, T0 + timedelta(days=2, hours=1, seconds=1))
    second = (await invoices_of(invoicing, customer_id))[1]
    assert (second.status, minor(second.amount_due)) == (invoice_pb2.INVOICE_STATUS_OPEN, 600)


# -- what the peers do with it (needs their servers) ---------------------------------------


async def test_an_event_stamped_in_the_clocks_next_period_is_accepted_after_an_advance_i18(
    invoicing: Invoicing,
) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    subscription = (await subscribe(invoicing, customer_id, catalog.input_price)).subscription
    next_period = subscription.current_period_end.ToDatetime(tzinfo=UTC)
    await advance(invoicing, clock_id, next_period + timedelta(days=10))
    # Metering's wall clock (the suite's) still stands at T0: only the clock's time accepts it.
    assert invoicing.clock.now() == T0
    await invoicing.events.CreateMeterEvent(
        meter_event_service_pb2.CreateMeterEventRequest(
            meter_event=meter_event_pb2.MeterEvent(
                event_name=invoicing.event_names[catalog.input_meter],
                payload={"customer_id": customer_id, "value": "100"},
                timestamp=timestamp_to_proto(next_period + timedelta(days=5)),
            )
        ),
        metadata=invoicing.metadata,
    )
    second_end = next_period.replace(month=next_period.month + 1)
    await advance(invoicing, clock_id, second_end + timedelta(hours=2))
    _, billed = await invoices_of(invoicing, customer_id)
    assert minor(billed.subtotal) == 300


async def test_a_grant_created_without_an_effective_time_takes_the_clocks_time_i18(
    invoicing: Invoicing,
) -> None:
    frozen = T0 + timedelta(days=40)
    customer_id = await customer(invoicing, await clock_at(invoicing, frozen))
    reply = await invoicing.grants.CreateCreditGrant(
        credit_grant_service_pb2.CreateCreditGrantRequest(
            credit_grant=credit_grant_pb2.CreditGrant(
                customer_id=customer_id,
                amount=money_pb2.Money(currency_code="USD", units=10),
                name="Hypernian credits",
                category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
                applicability_config=credit_grant_pb2.ApplicabilityConfig(
                    price_type=credit_grant_pb2.PRICE_TYPE_METERED
                ),
            )
        ),
        metadata=invoicing.metadata,
    )
    assert reply.credit_grant.effective_time.ToDatetime(tzinfo=UTC) == frozen  # not the wall clock's T0
