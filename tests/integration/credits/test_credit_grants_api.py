"""CreditGrantService through a real server and PostgreSQL (C-1..C-5, X-1, X-2, X-4)."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.type import money_pb2

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


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


async def test_c1_create_fills_defaults_and_posts_the_grant(credits: CreditsClient) -> None:
    created = await credits.create(new_grant(effective_time=None))
    assert created.id.startswith("cg_")
    assert created.category == grant_pb.CREDIT_GRANT_CATEGORY_PAID
    assert created.priority == 50
    assert created.status == grant_pb.CREDIT_GRANT_STATUS_AVAILABLE
    assert (minor(created.available_balance), minor(created.ledger_balance)) == (1000, 1000)
    [granted] = await credits.transactions(grant_id=created.id)
    assert granted.credit.type == 1 and minor(granted.credit.amount) == 1000
    assert granted.effective_time == created.effective_time
    assert await credits.get(created.id) == created


@pytest.mark.parametrize(
    ("fields", "expected_reason", "expected_field"),
    [
        ({"amount": usd(0)}, "INVALID_AMOUNT", "credit_grant.amount.units"),
        ({"amount": usd(-100)}, "INVALID_AMOUNT", "credit_grant.amount.units"),
        (
            {"amount": money_pb2.Money(currency_code="USD", units=1, nanos=5)},
            "INVALID_AMOUNT",
            "credit_grant.amount.nanos",
        ),
        (
            {"amount": money_pb2.Money(currency_code="usd", units=1)},
            "INVALID_CURRENCY",
            "credit_grant.amount.currency_code",
        ),
        ({"priority": 101}, "INVALID_PRIORITY", "credit_grant.priority"),
        ({"priority": -1}, "INVALID_PRIORITY", "credit_grant.priority"),
        ({"name": "x" * 101}, "NAME_TOO_LONG", "credit_grant.name"),
        (
            {"applicability_config": grant_pb.ApplicabilityConfig()},
            "INVALID_APPLICABILITY",
            "credit_grant.applicability_config",
        ),
        (
            {
                "applicability_config": grant_pb.ApplicabilityConfig(
                    price_type=grant_pb.PRICE_TYPE_UNSPECIFIED
                )
            },
            "INVALID_APPLICABILITY",
            "credit_grant.applicability_config",
        ),
        (
            {
                "applicability_config": grant_pb.ApplicabilityConfig(
                    prices=grant_pb.ApplicabilityPrices(price_ids=[f"price_{n}" for n in range(21)])
                )
            },
            "INVALID_APPLICABILITY",
            "credit_grant.applicability_config.prices.price_ids",
        ),
        (
            {
                "applicability_config": grant_pb.ApplicabilityConfig(
                    prices=grant_pb.ApplicabilityPrices(price_ids=["price_a", "price_a"])
                )
            },
            "INVALID_APPLICABILITY",
            "credit_grant.applicability_config.prices.price_ids",
        ),
        ({"expire_time": timestamp_to_proto(T0)}, "INVALID_EXPIRY", "credit_grant.expire_time"),
        ({"customer_id": ""}, "CUSTOMER_ID_REQUIRED", "credit_grant.customer_id"),
        ({"metadata": {"k" * 41: "v"}}, "INVALID_ARGUMENT", "credit_grant.metadata"),
    ],
)
async def test_c1_invalid_grants_are_refused_naming_the_proto_field(
    credits: CreditsClient, fields: dict, expected_reason: str, expected_field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.create(new_grant(**fields))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(raised.value) == expected_reason
    assert violated_fields(raised.value)[0].startswith(expected_field)


async def test_c1_twenty_prices_and_promotional_category_are_accepted(credits: CreditsClient) -> None:
    prices = [f"price_{n}" for n in range(20)]
    created = await credits.create(
        new_grant(
            applicability_config=grant_pb.ApplicabilityConfig(
                prices=grant_pb.ApplicabilityPrices(price_ids=prices)
            ),
            category=grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL,
            priority=0,
        )
    )
    assert list(created.applicability_config.prices.price_ids) == prices
    assert (created.category, created.priority) == (grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL, 0)


async def test_c2_states_follow_time_balance_and_void(credits: CreditsClient) -> None:
    grant = await credits.create(new_grant(expire_time=timestamp_to_proto(T0 + timedelta(days=60))))
    assert (
        await credits.get(grant.id, T0 - timedelta(days=1))
    ).status == grant_pb.CREDIT_GRANT_STATUS_PENDING
    assert minor((await credits.get(grant.id, T0 - timedelta(days=1))).available_balance) == 0
    assert (
        await credits.get(grant.id, T0 + timedelta(days=1))
    ).status == grant_pb.CREDIT_GRANT_STATUS_AVAILABLE
    assert (
        await credits.get(grant.id, T0 + timedelta(days=60))
    ).status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED
    await credits.apply(invoice("in_1", line("il_1", 5000)))
    depleted = await credits.get(grant.id, T0 + timedelta(days=40))
    assert depleted.status == grant_pb.CREDIT_GRANT_STATUS_DEPLETED


async def test_c3_update_moves_and_clears_expiry_and_replaces_metadata(credits: CreditsClient) -> None:
    grant = await credits.create(new_grant(metadata={"a": "1"}))
    later = T0 + timedelta(days=400)
    moved = await _update(
        credits, grant_pb.CreditGrant(id=grant.id, expire_time=timestamp_to_proto(later)), ["expire_time"]
    )
    assert moved.expire_time.ToDatetime().date() == later.date()
    cleared = await _update(
        credits, grant_pb.CreditGrant(id=grant.id, metadata={"b": "2"}), ["expire_time", "metadata"]
    )
    assert not cleared.HasField("expire_time")
    assert dict(cleared.metadata) == {"b": "2"}


@pytest.mark.parametrize(
    "path", ["amount", "name", "priority", "applicability_config", "effective_time", "category"]
)
async def test_c3_other_fields_are_immutable(credits: CreditsClient, path: str) -> None:
    grant = await credits.create()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(credits, grant_pb.CreditGrant(id=grant.id), [path])
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMMUTABLE_FIELD",
    )
    assert violated_fields(raised.value) == [f"credit_grant.{path}"]


@pytest.mark.parametrize("paths", [[], ["no_such_field"]])
async def test_c3_empty_or_unknown_mask_is_invalid(credits: CreditsClient, paths: list[str]) -> None:
    grant = await credits.create()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(credits, grant_pb.CreditGrant(id=grant.id), paths)
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    assert violated_fields(raised.value) == ["update_mask"]


async def test_c3_expire_posts_the_remaining_balance_and_is_final(credits: CreditsClient) -> None:
    grant = await credits.create()
    await credits.apply(invoice("in_1", line("il_1", 300)))
    expired = (
        await credits.grants.ExpireCreditGrant(
            grant_service_pb.ExpireCreditGrantRequest(id=grant.id), metadata=credits.admin
        )
    ).credit_grant
    assert expired.status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED
    assert (minor(expired.available_balance), minor(expired.ledger_balance)) == (0, 0)
    newest = (await credits.transactions(grant_id=grant.id))[0]
    assert (newest.debit.type, minor(newest.debit.amount)) == (2, 700)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.grants.ExpireCreditGrant(
            grant_service_pb.ExpireCreditGrantRequest(id=grant.id), metadata=credits.admin
        )
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "GRANT_EXPIRED",
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(credits, grant_pb.CreditGrant(id=grant.id), ["expire_time"])
    assert reason(raised.value) == "GRANT_EXPIRED"
    assert dict(
        (
            await _update(credits, grant_pb.CreditGrant(id=grant.id, metadata={"x": "y"}), ["metadata"])
        ).metadata
    ) == {"x": "y"}


async def test_c3_void_debits_the_whole_amount_unless_credit_was_applied(credits: CreditsClient) -> None:
    unused = await credits.create()
    voided = (
        await credits.grants.VoidCreditGrant(
            grant_service_pb.VoidCreditGrantRequest(id=unused.id), metadata=credits.admin
        )
    ).credit_grant
    assert voided.status == grant_pb.CREDIT_GRANT_STATUS_VOIDED and voided.HasField("void_time")
    assert minor(voided.ledger_balance) == 0
    assert (await credits.transactions(grant_id=unused.id))[0].debit.type == 3

    used = await credits.create()
    await credits.apply(invoice("in_1", line("il_1", 100)))
    await credits.reinstate("in_1", T0 + timedelta(days=40))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.grants.VoidCreditGrant(
            grant_service_pb.VoidCreditGrantRequest(id=used.id), metadata=credits.admin
        )
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "GRANT_ALREADY_APPLIED",
    )


async def test_c3_unknown_grant_is_not_found(credits: CreditsClient) -> None:
    for call in (
        credits.grants.GetCreditGrant(
            grant_service_pb.GetCreditGrantRequest(id="cg_nope"), metadata=credits.admin
        ),
        credits.grants.VoidCreditGrant(
            grant_service_pb.VoidCreditGrantRequest(id="cg_nope"), metadata=credits.admin
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert (raised.value.code(), reason(raised.value)) == (
            grpc.StatusCode.NOT_FOUND,
            "CREDIT_GRANT_NOT_FOUND",
        )


async def test_c4_the_101st_unused_grant_is_refused_until_one_is_used(credits: CreditsClient) -> None:
    first = await credits.create(new_grant(amount=100))
    for _ in range(99):
        await credits.create(new_grant(amount=100))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.create(new_grant(amount=100))
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "GRANT_LIMIT_REACHED",
    )
    await credits.grants.VoidCreditGrant(
        grant_service_pb.VoidCreditGrantRequest(id=first.id), metadata=credits.admin
    )
    await credits.create(new_grant(amount=100))
    assert (await credits.create(new_grant(amount=100, customer_id="cus_other"))).customer_id == "cus_other"


async def test_c5_create_is_idempotent_under_request_id(credits: CreditsClient) -> None:
    first = await credits.create(request_id="grant-1")
    again = await credits.create(request_id="grant-1")
    assert again == first
    assert len(await credits.transactions()) == 1
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.create(new_grant(amount=5), request_id="grant-1")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )


async def test_x4_list_grants_pages_newest_first_and_filters_by_status(credits: CreditsClient) -> None:
    created = [await credits.create() for _ in range(5)]
    await credits.grants.VoidCreditGrant(
        grant_service_pb.VoidCreditGrantRequest(id=created[0].id), metadata=credits.admin
    )
    seen: list[str] = []
    token = ""
    while True:
        reply = await credits.grants.ListCreditGrants(
            grant_service_pb.ListCreditGrantsRequest(customer_id=JENNY, page_size=2, page_token=token),
            metadata=credits.admin,
        )
        seen += [g.id for g in reply.credit_grants]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [g.id for g in reversed(created)]
    voided = await credits.grants.ListCreditGrants(
        grant_service_pb.ListCreditGrantsRequest(
            customer_id=JENNY, status=grant_pb.CREDIT_GRANT_STATUS_VOIDED
        ),
        metadata=credits.admin,
    )
    assert [g.id for g in voided.credit_grants] == [created[0].id]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.grants.ListCreditGrants(
            grant_service_pb.ListCreditGrantsRequest(
                customer_id="cus_other", page_token=reply.next_page_token or "e30"
            ),
            metadata=credits.admin,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _update(
    credits: CreditsClient, grant: grant_pb.CreditGrant, paths: list[str]
) -> grant_pb.CreditGrant:
    reply = await credits.grants.UpdateCreditGrant(
        grant_service_pb.UpdateCreditGrantRequest(
            credit_grant=grant, update_mask=field_mask_pb2.FieldMask(paths=paths)
        ),
        metadata=credits.admin,
    )
    return reply.credit_grant


async def test_c3_moving_expiry_into_the_past_ends_the_grant_at_once(credits: CreditsClient) -> None:
    grant = await credits.create(new_grant(effective_time=None))
    soon = grant.create_time.ToDatetime(tzinfo=UTC) + timedelta(milliseconds=1)
    moved = await _update(
        credits, grant_pb.CreditGrant(id=grant.id, expire_time=timestamp_to_proto(soon)), ["expire_time"]
    )
    assert moved.status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED
    assert (minor(moved.available_balance), minor(moved.ledger_balance)) == (0, 1000)


async def test_x1_update_expire_and_void_replay_under_their_request_id(credits: CreditsClient) -> None:
    grant = await credits.create()
    expire = grant_service_pb.ExpireCreditGrantRequest(id=grant.id, request_id="expire-1")
    first = await credits.grants.ExpireCreditGrant(expire, metadata=credits.admin)
    assert await credits.grants.ExpireCreditGrant(expire, metadata=credits.admin) == first
    assert len(await credits.transactions(grant_id=grant.id)) == 2
