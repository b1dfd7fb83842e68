"""Reservations of credits and the spendable balance through a real server (R-1..R-3).

The customer lives on a test clock standing at T0, so that every "now" of the credits
service (a reservation's start and expiry, the spendable balance) is a moment the test
chooses.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from google.type import money_pb2

from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_reservation_service_pb2 as pb
from drawdown.credits.v1 import credit_reservation_service_pb2_grpc as reservation_grpc
from drawdown.credits.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    INPUT_TOKENS,
    JENNY,
    OUTPUT_TOKENS,
    T0,
    CreditsClient,
    error_metadata,
    minor,
    new_grant,
    reason,
    usd,
    violated_fields,
)
from tests.support.harness import Suite

CLOCK = "clock_reservations"


@pytest.fixture
def suite(running_suite: Suite) -> Suite:
    return running_suite


@pytest.fixture
async def credits(suite: Suite) -> CreditsClient:
    client = CreditsClient.on(suite)
    await set_clock(suite, client, T0)
    return client


def reservations(
    suite: Suite, channel: grpc.aio.Channel | None = None
) -> reservation_grpc.CreditReservationServiceStub:
    return reservation_grpc.CreditReservationServiceStub(channel or suite.channel("credits"))


async def set_clock(suite: Suite, credits: CreditsClient, moment) -> None:
    await clock_grpc.TestClockTimeServiceStub(suite.channel("credits")).SetTestClockTime(
        clock_pb.SetTestClockTimeRequest(
            test_clock_id=CLOCK, frozen_time=timestamp_to_proto(moment), customer_ids=[JENNY]
        ),
        metadata=credits.service,
    )


def reserve_request(
    reservation_id: str, amount: int, *, price_id: str = INPUT_TOKENS, ttl=timedelta(minutes=10), **fields
) -> pb.ReserveCreditsRequest:
    return pb.ReserveCreditsRequest(
        reservation_id=reservation_id,
        customer_id=JENNY,
        price_id=price_id,
        amount=usd(amount),
        ttl=duration_pb2.Duration(seconds=int(ttl.total_seconds())),
        **fields,
    )


async def spendable(suite: Suite, credits: CreditsClient, **fields) -> int:
    reply = await reservations(suite).GetSpendableBalance(
        pb.GetSpendableBalanceRequest(customer_id=JENNY, **fields), metadata=credits.service
    )
    [balance] = reply.balances
    return minor(balance.spendable_balance)


async def test_r3_64_concurrent_reservations_of_1_against_10_grant_exactly_10(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=1000))

    async def one(n: int, channel: grpc.aio.Channel) -> str:
        try:
            await reservations(suite, channel).ReserveCredits(
                reserve_request(f"uza_{n}", 100), metadata=credits.service
            )
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert reason(error) == "INSUFFICIENT_CREDITS"
            assert error_metadata(error)["spendable_balance"] == "0"
            return "refused"
        return "reserved"

    # Each client on a connection of its own (gRPC would otherwise share one).
    channels = [
        grpc.aio.insecure_channel(suite.address("credits"), options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(64)
    ]
    try:
        outcomes = await asyncio.gather(*(one(n, channel) for n, channel in enumerate(channels)))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))

    assert outcomes.count("reserved") == 10
    assert await spendable(suite, credits) == 0


async def test_r1_a_reservation_names_its_grants_after_what_was_claimed_before(
    suite: Suite, credits: CreditsClient
) -> None:
    first = await credits.create(new_grant(amount=500, priority=1))
    second = await credits.create(new_grant(amount=1000, priority=2))
    await credits.create(new_grant(amount=5000, priority=0, applicability_config=_only(OUTPUT_TOKENS)))

    reply = await reservations(suite).ReserveCredits(
        reserve_request("uza_a", 800, unbilled_usage=usd(300), overdraft_allowance=usd(0)),
        metadata=credits.service,
    )

    reservation = reply.credit_reservation
    # The output-only grant does not pay input tokens; the unbilled 3.00 took the first
    # grant's first 3.00, so the reservation draws 2.00 from it and 6.00 from the second.
    assert [(s.credit_grant_id, minor(s.amount)) for s in reservation.drawn_from] == [
        (first.id, 200),
        (second.id, 600),
    ]
    assert minor(reservation.uncovered_amount) == 0
    assert minor(reservation.spendable_balance) == 6500 - 300 - 800
    assert reservation.expire_time.ToDatetime() == (T0 + timedelta(minutes=10)).replace(tzinfo=None)


async def test_r2_the_overdraft_allowance_is_spendable_and_never_passed(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=100))
    stub = reservations(suite)

    reply = await stub.ReserveCredits(
        reserve_request("uza_over", 300, overdraft_allowance=usd(200)), metadata=credits.service
    )
    assert minor(reply.credit_reservation.uncovered_amount) == 200
    assert minor(reply.credit_reservation.spendable_balance) == 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReserveCredits(
            reserve_request("uza_more", 1, overdraft_allowance=usd(200)), metadata=credits.service
        )
    assert reason(refused.value) == "INSUFFICIENT_CREDITS"


async def test_r4_a_retry_returns_the_reservation_and_ending_it_twice_changes_nothing(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=1000))
    stub = reservations(suite)
    made = await stub.ReserveCredits(reserve_request("uza_r", 400), metadata=credits.service)
    again = await stub.ReserveCredits(reserve_request("uza_r", 400), metadata=credits.service)
    assert again == made
    assert await spendable(suite, credits) == 600

    ended = await stub.EndCreditReservation(
        pb.EndCreditReservationRequest(reservation_id="uza_r", customer_id=JENNY), metadata=credits.service
    )
    twice = await stub.EndCreditReservation(
        pb.EndCreditReservationRequest(reservation_id="uza_r", customer_id=JENNY), metadata=credits.service
    )
    assert ended.credit_reservation.HasField("end_time")
    assert twice == ended
    assert await spendable(suite, credits) == 1000
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.EndCreditReservation(
            pb.EndCreditReservationRequest(reservation_id="uza_unknown", customer_id=JENNY),
            metadata=credits.service,
        )
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    assert reason(unknown.value) == "CREDIT_RESERVATION_NOT_FOUND"


async def test_r4_a_reservation_stops_counting_at_its_expiry_on_the_customers_clock(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=1000))
    await reservations(suite).ReserveCredits(
        reserve_request("uza_ttl", 700, ttl=timedelta(minutes=5)), metadata=credits.service
    )
    await set_clock(suite, credits, T0 + timedelta(minutes=5) - timedelta(seconds=1))
    assert await spendable(suite, credits) == 300
    await set_clock(suite, credits, T0 + timedelta(minutes=5))
    assert await spendable(suite, credits) == 1000


async def test_r2_spendable_subtracts_unbilled_usage_and_adds_the_allowance(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=1000))
    await reservations(suite).ReserveCredits(reserve_request("uza_s", 100), metadata=credits.service)
    reply = await reservations(suite).GetSpendableBalance(
        pb.GetSpendableBalanceRequest(
            customer_id=JENNY, unbilled_usage=[usd(250)], overdraft_allowances=[usd(50)]
        ),
        metadata=credits.service,
    )
    [balance] = reply.balances
    assert [minor(m) for m in (balance.available_credits, balance.reserved, balance.unbilled_usage)] == [
        1000,
        100,
        250,
    ]
    assert minor(balance.spendable_balance) == 1000 - 250 - 100 + 50
    assert reply.as_of_time.ToDatetime() == T0.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("fields", "field", "expected_reason"),
    [
        ({"amount": usd(0)}, "amount", "INVALID_AMOUNT"),
        ({"ttl": duration_pb2.Duration(seconds=24 * 3600 + 1)}, "ttl", "INVALID_TTL"),
        ({"ttl": duration_pb2.Duration(seconds=0)}, "ttl", "INVALID_TTL"),
        ({"price_id": ""}, "price_id", "INVALID_ARGUMENT"),
        (
            {"unbilled_usage": money_pb2.Money(currency_code="USD", nanos=-10_000_000)},
            "unbilled_usage",
            "INVALID_AMOUNT",
        ),
        (
            {"overdraft_allowance": money_pb2.Money(currency_code="EUR", units=1)},
            "overdraft_allowance.currency_code",
            "CURRENCY_MISMATCH",
        ),
    ],
)
async def test_r1_bad_reservations_name_their_field(
    suite: Suite, credits: CreditsClient, fields, field, expected_reason
) -> None:
    request = reserve_request("uza_bad", 100)
    for name, value in fields.items():
        if isinstance(value, str):
            setattr(request, name, value)
        else:
            getattr(request, name).CopyFrom(value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await reservations(suite).ReserveCredits(request, metadata=credits.service)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == expected_reason
    assert field in violated_fields(refused.value)


def _only(price_id: str) -> grant_pb.ApplicabilityConfig:
    return grant_pb.ApplicabilityConfig(prices=grant_pb.ApplicabilityPrices(price_ids=[price_id]))


async def test_r7_the_spendable_balance_says_what_was_granted_by_grants_effective_and_not_voided(
    suite: Suite, credits: CreditsClient
) -> None:
    await credits.create(new_grant(amount=1000))
    await reservations(suite).ReserveCredits(reserve_request("uza_granted", 400), metadata=credits.service)
    voided = await credits.create(new_grant(amount=700))
    await credits.grants.VoidCreditGrant(
        grant_service_pb.VoidCreditGrantRequest(id=voided.id), metadata=credits.admin
    )
    await credits.create(new_grant(amount=300, effective_time=timestamp_to_proto(T0 + timedelta(days=1))))

    reply = await reservations(suite).GetSpendableBalance(
        pb.GetSpendableBalanceRequest(customer_id=JENNY), metadata=credits.service
    )

    [balance] = reply.balances
    assert (minor(balance.granted), minor(balance.spendable_balance)) == (1000, 600)
