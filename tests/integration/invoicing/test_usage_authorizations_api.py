"""Authorize → capture through the real suite (R-1..R-5): invoicing rates, credits
reserves under the customer's lock, metering records the captured usage once.

The customer lives on a test clock at T0; the Hypernian prices bill 3 ¢ per input token and
5 ¢ per output token; the customer holds a 10.00 USD grant unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import partial

import grpc
import pytest
from google.protobuf import duration_pb2
from google.type import decimal_pb2, money_pb2

from drawdown.clock import SystemClock
from drawdown.db.engine import Database
from drawdown.events.outbox import Outbox
from drawdown.invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    price_pb2,
    test_clock_service_pb2,
    usage_authorization_pb2,
)
from drawdown.invoicing.v1 import usage_authorization_service_pb2 as pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc as authorization_grpc
from drawdown.rpc.convert import timestamp_to_proto
from invoicing_service.adapters.downstream import Downstream
from invoicing_service.api.convert import EVENT_DATA
from invoicing_service.service.authorizations import UsageAuthorizations
from invoicing_service.service.billing import Billing
from invoicing_service.store.schema import EVENT_TABLES
from invoicing_service.store.unit import InvoicingUnit
from tests.integration.credits.credit_api_builders import error_metadata, minor, reason, violated_fields
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Hypernian,
    Invoicing,
    clock_at,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    metered_price,
    subscribe,
)

AUTHORIZED = usage_authorization_pb2.USAGE_AUTHORIZATION_STATUS_AUTHORIZED
CAPTURED = usage_authorization_pb2.USAGE_AUTHORIZATION_STATUS_CAPTURED
RELEASED = usage_authorization_pb2.USAGE_AUTHORIZATION_STATUS_RELEASED
EXPIRED = usage_authorization_pb2.USAGE_AUTHORIZATION_STATUS_EXPIRED


@dataclass
class Seller:
    invoicing: Invoicing
    catalog: Hypernian
    customer_id: str
    clock_id: str
    grant_id: str

    @property
    def authorizations(self) -> authorization_grpc.UsageAuthorizationServiceStub:
        return authorization_grpc.UsageAuthorizationServiceStub(self.invoicing.suite.channel("invoicing"))

    async def authorize(self, tokens: int | None = None, *, amount: int | None = None, **fields):
        request = pb.AuthorizeUsageRequest(customer_id=self.customer_id, **fields)
        if not request.HasField("meter_id"):
            request.price_id = request.price_id or self.catalog.input_price
        if tokens is not None:
            request.quantity.CopyFrom(decimal_pb2.Decimal(value=str(tokens)))
        if amount is not None:
            request.amount.CopyFrom(usd(amount))
        reply = await self.authorizations.AuthorizeUsage(request, metadata=self.invoicing.metadata)
        return reply.usage_authorization

    async def capture(self, authorization_id: str, tokens: int | None = None, stub=None):
        request = pb.CaptureUsageAuthorizationRequest(usage_authorization_id=authorization_id)
        if tokens is not None:
            request.quantity.CopyFrom(decimal_pb2.Decimal(value=str(tokens)))
        reply = await (stub or self.authorizations).CaptureUsageAuthorization(
            request, metadata=self.invoicing.metadata
        )
        return reply.usage_authorization

    async def release(self, authorization_id: str):
        reply = await self.authorizations.ReleaseUsageAuthorization(
            pb.ReleaseUsageAuthorizationRequest(usage_authorization_id=authorization_id),
            metadata=self.invoicing.metadata,
        )
        return reply.usage_authorization

    async def get(self, authorization_id: str):
        reply = await self.authorizations.GetUsageAuthorization(
            pb.GetUsageAuthorizationRequest(usage_authorization_id=authorization_id),
            metadata=self.invoicing.metadata,
        )
        return reply.usage_authorization

    async def balance(self) -> customer_pb2.LiveBalance:
        reply = await self.invoicing.customers.GetCustomerLiveBalance(
            customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=self.customer_id, currency="USD"),
            metadata=self.invoicing.metadata,
        )
        [balance] = reply.live_balance.balances
        return balance

    async def spendable(self) -> int:
        return minor((await self.balance()).spendable_balance)

    async def advance(self, by: timedelta) -> None:
        clock = await self.invoicing.clocks.GetTestClock(
            test_clock_service_pb2.GetTestClockRequest(id=self.clock_id), metadata=self.invoicing.metadata
        )
        await self.invoicing.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(
                id=self.clock_id,
                frozen_time=timestamp_to_proto(clock.test_clock.frozen_time.ToDatetime(tzinfo=UTC) + by),
            ),
            metadata=self.invoicing.metadata,
        )


def usd(cents: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", units=cents // 100, nanos=(cents % 100) * 10_000_000)


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


@pytest.fixture
async def seller(invoicing: Invoicing) -> Seller:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing, T0)
    customer_id = await customer(invoicing, clock_id)
    await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    grant_id = await invoicing.grant(customer_id, 1000)
    return Seller(invoicing, catalog, customer_id, clock_id, grant_id)


async def test_r1_an_estimate_is_rated_at_the_price_and_reserved_from_the_grant(seller: Seller) -> None:
    authorization = await seller.authorize(100)

    assert authorization.status == AUTHORIZED
    assert minor(authorization.authorized_amount) == 300  # 100 input tokens at 3 ¢
    assert [(s.credit_grant_id, minor(s.amount)) for s in authorization.drawn_from] == [
        (seller.grant_id, 300)
    ]
    assert minor(authorization.spendable_balance) == 700
    assert authorization.expire_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=10)
    balance = await seller.balance()
    assert [minor(balance.reserved), minor(balance.spendable_balance), minor(balance.available_credits)] == [
        300,
        700,
        1000,
    ]


async def test_r1_the_meter_names_the_price_too(seller: Seller) -> None:
    authorization = await seller.authorize(10, meter_id=seller.catalog.output_meter)

    assert authorization.price_id == seller.catalog.output_price
    assert minor(authorization.authorized_amount) == 50


async def test_r4_a_capture_records_the_actual_usage_and_ends_the_reservation(seller: Seller) -> None:
    more = await seller.authorize(100)
    less = await seller.authorize(100)

    over = await seller.capture(more.id, 150)
    under = await seller.capture(less.id, 40)

    assert (over.status, minor(over.captured_amount), minor(over.overage_amount)) == (CAPTURED, 450, 150)
    assert (under.status, minor(under.captured_amount), minor(under.overage_amount)) == (CAPTURED, 120, 0)
    assert over.captured_quantity.value == "150"
    balance = await seller.balance()
    assert [minor(balance.unbilled_usage), minor(balance.reserved), minor(balance.spendable_balance)] == [
        570,
        0,
        430,
    ]


async def test_r4_a_capture_sent_ten_times_at_once_counts_once(seller: Seller) -> None:
    authorization = await seller.authorize(100)
    channels = [
        grpc.aio.insecure_channel(
            seller.invoicing.suite.address("invoicing"), options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(10)
    ]
    try:
        captured = await asyncio.gather(
            *(
                seller.capture(
                    authorization.id, 100, authorization_grpc.UsageAuthorizationServiceStub(channel)
                )
                for channel in channels
            )
        )
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))

    assert all(c == captured[0] for c in captured)
    assert captured[0].status == CAPTURED
    assert minor((await seller.balance()).unbilled_usage) == 300


async def test_r3_64_concurrent_authorizations_of_1_against_10_grant_exactly_10(seller: Seller) -> None:
    channels = [
        grpc.aio.insecure_channel(
            seller.invoicing.suite.address("invoicing"), options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(64)
    ]

    async def one(channel: grpc.aio.Channel) -> str:
        stub = authorization_grpc.UsageAuthorizationServiceStub(channel)
        try:
            await stub.AuthorizeUsage(
                pb.AuthorizeUsageRequest(
                    customer_id=seller.customer_id, price_id=seller.catalog.input_price, amount=usd(100)
                ),
                metadata=seller.invoicing.metadata,
            )
        except grpc.aio.AioRpcError as error:
            assert (error.code(), reason(error)) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "INSUFFICIENT_CREDITS",
            )
            return "refused"
        return "granted"

    try:
        outcomes = await asyncio.gather(*(one(channel) for channel in channels))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))

    assert outcomes.count("granted") == 10
    assert await seller.spendable() == 0


async def test_r1_insufficient_credits_carries_the_spendable_balance(seller: Seller) -> None:
    await seller.authorize(200)  # 6.00 reserved, 4.00 left

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorize(200)

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "INSUFFICIENT_CREDITS"
    assert error_metadata(refused.value) == {"spendable_balance": "400", "currency": "USD"}


async def test_r2_the_overdraft_allowance_lets_usage_run_past_the_credits(seller: Seller) -> None:
    await seller.invoicing.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(
                id=seller.customer_id,
                credit_settings=customer_pb2.CustomerCreditSettings(overdraft_allowances=[usd(500)]),
            ),
            update_mask={"paths": ["credit_settings.overdraft_allowances"]},
        ),
        metadata=seller.invoicing.metadata,
    )

    authorization = await seller.authorize(amount=1500)

    assert minor(authorization.spendable_balance) == 0
    assert [minor(s.amount) for s in authorization.drawn_from] == [1000]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorize(amount=1)
    assert reason(refused.value) == "INSUFFICIENT_CREDITS"


async def test_r2_usage_sent_straight_to_metering_counts_at_once(seller: Seller) -> None:
    await seller.invoicing.record(seller.catalog.output_meter, seller.customer_id, T0, 60)

    assert await seller.spendable() == 1000 - 300
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorize(amount=701)
    assert error_metadata(refused.value)["spendable_balance"] == "700"


async def test_r1_without_a_subscription_item_for_the_price_authorization_is_refused(
    seller: Seller, invoicing: Invoicing
) -> None:
    other = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorize(10, price_id=other.input_price)

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "NO_SUBSCRIPTION_ITEM"
    assert error_metadata(refused.value)["price_id"] == other.input_price


async def test_r4_release_frees_the_reservation_once(seller: Seller) -> None:
    authorization = await seller.authorize(100)

    released = await seller.release(authorization.id)
    again = await seller.release(authorization.id)

    assert released.status == RELEASED and again == released
    assert await seller.spendable() == 1000
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.capture(authorization.id, 100)
    assert reason(refused.value) == "AUTHORIZATION_RELEASED"


async def test_r4_an_authorization_expires_at_its_ttl_on_the_customers_clock(seller: Seller) -> None:
    authorization = await seller.authorize(100, ttl=duration_pb2.Duration(seconds=300))

    await seller.advance(timedelta(minutes=5))

    expired = await seller.get(authorization.id)
    assert expired.status == EXPIRED
    assert expired.end_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=5)
    assert await seller.spendable() == 1000


async def test_r4_a_capture_without_its_quantity_captures_the_estimate_flagged(seller: Seller) -> None:
    authorization = await seller.authorize(100)

    captured = await seller.capture(authorization.id)

    assert (captured.captured_quantity.value, captured.quantity_estimated) == ("100", True)
    assert minor((await seller.balance()).unbilled_usage) == 300


async def test_r1_a_retried_authorization_reserves_once_and_a_reused_request_id_is_refused(
    seller: Seller,
) -> None:
    first = await seller.authorize(100, request_id="req-1")
    again = await seller.authorize(100, request_id="req-1")

    assert again == first
    assert await seller.spendable() == 700
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorize(101, request_id="req-1")
    assert (refused.value.code(), reason(refused.value)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )


async def test_r4_a_capture_cut_short_is_completed_by_the_sweep_and_counted_once(seller: Seller) -> None:
    authorization = await seller.authorize(100)
    seller.invoicing.credits_faults.fail(
        "CreditReservationService/EndCreditReservation", when="before", times=100
    )

    with pytest.raises(grpc.aio.AioRpcError) as cut_short:
        await seller.capture(authorization.id, 80)

    assert cut_short.value.code() is grpc.StatusCode.UNAVAILABLE
    assert (await seller.get(authorization.id)).status == AUTHORIZED  # the capture is under way
    seller.invoicing.credits_faults.clear()
    # What a restarted replica's sweep runs: its own pool, channels and outbox.
    database = Database(seller.invoicing.database_url, pool_size=2, unit_of_work=InvoicingUnit)
    database.outboxes = partial(Outbox, EVENT_TABLES, EVENT_DATA, SystemClock().now)
    downstream = Downstream(seller.invoicing.settings)
    try:
        completed = await UsageAuthorizations(
            Billing(database, downstream, SystemClock())
        ).complete_stuck_captures(timedelta(0))
    finally:
        await downstream.close()
        await database.dispose()

    assert completed == 1
    captured = await seller.get(authorization.id)
    assert (captured.status, captured.captured_quantity.value) == (CAPTURED, "80")
    assert await seller.capture(authorization.id, 80) == captured
    balance = await seller.balance()
    assert (minor(balance.unbilled_usage), minor(balance.reserved)) == (240, 0)


async def test_r5_authorizations_are_listed_newest_first_and_by_status(seller: Seller) -> None:
    first = await seller.authorize(10)
    second = await seller.authorize(20)
    await seller.capture(first.id, 10)

    listed = await seller.authorizations.ListUsageAuthorizations(
        pb.ListUsageAuthorizationsRequest(customer_id=seller.customer_id, page_size=1),
        metadata=seller.invoicing.metadata,
    )
    rest = await seller.authorizations.ListUsageAuthorizations(
        pb.ListUsageAuthorizationsRequest(
            customer_id=seller.customer_id, page_size=1, page_token=listed.next_page_token
        ),
        metadata=seller.invoicing.metadata,
    )
    captured = await seller.authorizations.ListUsageAuthorizations(
        pb.ListUsageAuthorizationsRequest(customer_id=seller.customer_id, status=CAPTURED),
        metadata=seller.invoicing.metadata,
    )

    # Both were made at the clock's T0: the newer id first among equal times.
    assert [a.id for a in [*listed.usage_authorizations, *rest.usage_authorizations]] == sorted(
        [first.id, second.id], reverse=True
    )
    assert [a.id for a in captured.usage_authorizations] == [first.id]


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"quantity": decimal_pb2.Decimal(value="-1")}, "quantity", "INVALID_QUANTITY"),
        ({"amount": money_pb2.Money(currency_code="USD")}, "amount", "INVALID_AMOUNT"),
        (
            {"quantity": decimal_pb2.Decimal(value="1"), "ttl": duration_pb2.Duration(seconds=86401)},
            "ttl",
            "INVALID_TTL",
        ),
    ],
)
async def test_r1_bad_requests_name_their_field(seller: Seller, fields, field, expected) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seller.authorizations.AuthorizeUsage(
            pb.AuthorizeUsageRequest(
                customer_id=seller.customer_id, price_id=seller.catalog.input_price, **fields
            ),
            metadata=seller.invoicing.metadata,
        )
    assert (refused.value.code(), reason(refused.value)) == (grpc.StatusCode.INVALID_ARGUMENT, expected)
    assert any(v.startswith(field) for v in violated_fields(refused.value))


async def test_r1_a_tiered_estimate_is_rated_on_top_of_the_usage_so_far(invoicing: Invoicing) -> None:
    meter_id = await invoicing.meter()
    tiers = [
        price_pb2.PriceTier(up_to=100, unit_amount_decimal={"value": "10"}),
        price_pb2.PriceTier(unit_amount_decimal={"value": "1"}),
    ]
    price_id = await metered_price(
        invoicing,
        meter_id,
        billing_scheme=price_pb2.BILLING_SCHEME_TIERED,
        tiers_mode=price_pb2.TIERS_MODE_GRADUATED,
        tiers=tiers,
    )
    customer_id = await customer(invoicing, await clock_at(invoicing, T0))
    await subscribe(invoicing, customer_id, price_id)
    await invoicing.grant(customer_id, 5000)
    await invoicing.record(meter_id, customer_id, T0, 90)

    reply = await authorization_grpc.UsageAuthorizationServiceStub(
        invoicing.suite.channel("invoicing")
    ).AuthorizeUsage(
        pb.AuthorizeUsageRequest(
            customer_id=customer_id, price_id=price_id, quantity=decimal_pb2.Decimal(value="20")
        ),
        metadata=invoicing.metadata,
    )

    # 10 more tokens in the first tier at 10 ¢, then 10 in the second at 1 ¢.
    assert minor(reply.usage_authorization.authorized_amount) == 10 * 10 + 10 * 1
