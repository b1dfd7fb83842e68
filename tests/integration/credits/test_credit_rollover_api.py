"""Rollover of unused credits at expiry through a real server (R-8, C-23)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from google.type import decimal_pb2

from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    JENNY,
    T0,
    CreditsClient,
    invoice,
    line,
    minor,
    new_grant,
    reason,
    usd,
    violated_fields,
)
from tests.support.harness import Suite

EXPIRY = T0 + timedelta(days=30)
EXPIRED = balance_pb.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED
GRANTED = balance_pb.CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_GRANTED


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


def expiring_with(rollover: grant_pb.RolloverPolicy, amount: int = 1000) -> grant_pb.CreditGrant:
    return new_grant(amount=amount, expire_time=timestamp_to_proto(EXPIRY), rollover=rollover)


def thirty_days() -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=30 * 86400)


async def grants_of(credits: CreditsClient) -> list[grant_pb.CreditGrant]:
    reply = await credits.grants.ListCreditGrants(
        grant_service_pb.ListCreditGrantsRequest(customer_id=JENNY, as_of=timestamp_to_proto(EXPIRY)),
        metadata=credits.admin,
    )
    return list(reply.credit_grants)


@pytest.mark.parametrize(
    ("policy", "carried"),
    [
        (
            grant_pb.RolloverPolicy(max_percent=decimal_pb2.Decimal(value="50"), expire_after=thirty_days()),
            500,
        ),
        (grant_pb.RolloverPolicy(max_amount=usd(200), expire_after=thirty_days()), 200),
        (grant_pb.RolloverPolicy(max_amount=usd(5000), expire_after=thirty_days()), 700),
    ],
)
async def test_r8_the_unused_balance_up_to_the_cap_is_granted_again_with_linked_entries(
    credits: CreditsClient, policy: grant_pb.RolloverPolicy, carried: int
) -> None:
    old = await credits.create(expiring_with(policy))
    await credits.apply(invoice("in_1", line("il_1", 300), period_end=T0 + timedelta(days=10)))

    await credits.expire_due(EXPIRY, customer_ids=[JENNY])

    [new] = [g for g in await grants_of(credits) if g.id != old.id]
    assert (new.rolled_over_from_grant_id, minor(new.amount), minor(new.ledger_balance)) == (
        old.id,
        carried,
        carried,
    )
    assert new.effective_time.ToDatetime() == EXPIRY.replace(tzinfo=None)
    assert new.expire_time.ToDatetime() == (EXPIRY + timedelta(days=30)).replace(tzinfo=None)
    assert not new.HasField("rollover")  # it rolls over no further
    [expired] = [t for t in await credits.transactions(grant_id=old.id) if t.debit.type == EXPIRED]
    [granted] = await credits.transactions(grant_id=new.id)
    assert minor(expired.debit.amount) == 700  # all that was left expires (C-23 holds on both)
    assert granted.credit.type == GRANTED
    assert (expired.linked_transaction_id, granted.linked_transaction_id) == (granted.id, expired.id)
    assert minor((await credits.get(old.id, EXPIRY)).ledger_balance) == 0

    await credits.expire_due(EXPIRY, request_id="sweep-again", customer_ids=[JENNY])
    assert len(await grants_of(credits)) == 2  # a second sweep rolls nothing over again


async def test_r8_a_grant_used_up_rolls_nothing_over(credits: CreditsClient) -> None:
    await credits.create(
        expiring_with(grant_pb.RolloverPolicy(max_amount=usd(500), expire_after=thirty_days()), amount=300)
    )
    await credits.apply(invoice("in_1", line("il_1", 300), period_end=T0 + timedelta(days=10)))

    await credits.expire_due(EXPIRY, customer_ids=[JENNY])

    assert len(await grants_of(credits)) == 1


async def test_r8_an_expiry_asked_for_does_not_roll_over(credits: CreditsClient) -> None:
    old = await credits.create(
        expiring_with(grant_pb.RolloverPolicy(max_amount=usd(500), expire_after=thirty_days()))
    )

    await credits.grants.ExpireCreditGrant(
        grant_service_pb.ExpireCreditGrantRequest(id=old.id), metadata=credits.admin
    )
    await credits.expire_due(EXPIRY, customer_ids=[JENNY])

    assert [g.id for g in await grants_of(credits)] == [old.id]


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        (
            new_grant(rollover=grant_pb.RolloverPolicy(max_amount=usd(1), expire_after=thirty_days())),
            "credit_grant.rollover",
        ),
        (
            expiring_with(
                grant_pb.RolloverPolicy(
                    max_percent=decimal_pb2.Decimal(value="150"), expire_after=thirty_days()
                )
            ),
            "credit_grant.rollover.max_percent",
        ),
        (expiring_with(grant_pb.RolloverPolicy(max_amount=usd(1))), "credit_grant.rollover.expire_after"),
        (expiring_with(grant_pb.RolloverPolicy(expire_after=thirty_days())), "credit_grant.rollover"),
    ],
)
async def test_r8_a_bad_rollover_is_refused_naming_its_field(
    credits: CreditsClient, grant: grant_pb.CreditGrant, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await credits.create(grant)

    assert (refused.value.code(), reason(refused.value)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ROLLOVER",
    )
    assert field in violated_fields(refused.value)
