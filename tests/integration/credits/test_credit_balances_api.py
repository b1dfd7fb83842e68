"""CreditBalanceService and the ledger's database guarantees (C-20..C-23, X-4)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import psycopg
import pytest
from google.type import money_pb2

from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.db.urls import libpq_url
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    INPUT_TOKENS,
    JENNY,
    OUTPUT_TOKENS,
    T0,
    CreditsClient,
    invoice,
    line,
    minor,
    new_grant,
    reason,
)
from tests.support.harness import Suite

AS_OF = T0 + timedelta(days=40)


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


def scoped(*price_ids: str) -> grant_pb.ApplicabilityConfig:
    return grant_pb.ApplicabilityConfig(prices=grant_pb.ApplicabilityPrices(price_ids=list(price_ids)))


async def test_c21_summary_per_currency_filtered_by_scope_or_grant(credits: CreditsClient) -> None:
    everything = await credits.create(new_grant(amount=1000))
    output_only = await credits.create(new_grant(amount=200, applicability_config=scoped(OUTPUT_TOKENS)))
    await credits.create(new_grant(amount=money_pb2.Money(currency_code="EUR", units=3)))
    await credits.create(new_grant(amount=50, effective_time=timestamp_to_proto(AS_OF + timedelta(days=1))))
    await credits.hold(invoice("in_1", line("il_1", 100)))

    assert await credits.summary(as_of=AS_OF) == {"EUR": (300, 300), "USD": (1100, 1250)}
    metered = grant_pb.ApplicabilityConfig(price_type=grant_pb.PRICE_TYPE_METERED)
    assert await credits.summary(as_of=AS_OF, applicability_config=metered) == {
        "EUR": (300, 300),
        "USD": (1100, 1250),
    }
    assert await credits.summary(as_of=AS_OF, applicability_config=scoped(INPUT_TOKENS, "price_x")) == {
        "EUR": (300, 300),
        "USD": (900, 1050),
    }
    assert await credits.summary(as_of=AS_OF, credit_grant_id=output_only.id) == {"USD": (200, 200)}
    assert await credits.summary(as_of=AS_OF, credit_grant_id=everything.id) == {"USD": (900, 1000)}
    assert await credits.summary("cus_nobody") == {}


@pytest.mark.parametrize(
    ("filters", "code", "expected_reason"),
    [
        ({"credit_grant_id": "cg_unknown"}, grpc.StatusCode.NOT_FOUND, "CREDIT_GRANT_NOT_FOUND"),
        (
            {"applicability_config": grant_pb.ApplicabilityConfig()},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_APPLICABILITY",
        ),
        ({"applicability_config": scoped()}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_APPLICABILITY"),
        (
            {"applicability_config": scoped("p", "p")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_APPLICABILITY",
        ),
    ],
)
async def test_c21_bad_filters(
    credits: CreditsClient, filters: dict, code: grpc.StatusCode, expected_reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.summary(**filters)
    assert (raised.value.code(), reason(raised.value)) == (code, expected_reason)


async def test_c21_a_grant_of_another_customer_is_not_found(credits: CreditsClient) -> None:
    other = await credits.create(new_grant(customer_id="cus_other"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.summary(credit_grant_id=other.id)
    assert reason(raised.value) == "CREDIT_GRANT_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.transactions(grant_id=other.id)
    assert reason(raised.value) == "CREDIT_GRANT_NOT_FOUND"


async def test_c22_transactions_newest_first_paginated_per_customer_and_grant(credits: CreditsClient) -> None:
    a = await credits.create(new_grant(amount=500, priority=1))
    b = await credits.create(new_grant(amount=500, priority=2))
    await credits.apply(invoice("in_1", line("il_1", 700)))
    everything = await credits.transactions()
    assert len(everything) == 4
    assert [t.create_time.ToDatetime() for t in everything] == sorted(
        (t.create_time.ToDatetime() for t in everything), reverse=True
    )
    applied = [t for t in everything if t.HasField("debit")]
    assert {(t.credit_grant_id, t.debit.invoice_id, t.debit.invoice_line_id) for t in applied} == {
        (a.id, "in_1", "il_1"),
        (b.id, "in_1", "il_1"),
    }
    pages: list[str] = []
    token = ""
    while True:
        reply = await credits.balances.ListCreditBalanceTransactions(
            balance_pb.ListCreditBalanceTransactionsRequest(customer_id=JENNY, page_size=3, page_token=token),
            metadata=credits.admin,
        )
        pages += [t.id for t in reply.credit_balance_transactions]
        token = reply.next_page_token
        if not token:
            break
    assert pages == [t.id for t in everything]
    assert {t.credit_grant_id for t in await credits.transactions(grant_id=b.id)} == {b.id}
    one = await credits.balances.GetCreditBalanceTransaction(
        balance_pb.GetCreditBalanceTransactionRequest(id=applied[0].id), metadata=credits.admin
    )
    assert one.credit_balance_transaction == applied[0]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.balances.GetCreditBalanceTransaction(
            balance_pb.GetCreditBalanceTransactionRequest(id="cbt_nope"), metadata=credits.admin
        )
    assert (raised.value.code(), reason(raised.value)) == (grpc.StatusCode.NOT_FOUND, "TRANSACTION_NOT_FOUND")
    assert minor(applied[0].debit.amount) > 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credits.credit_transactions SET amount_minor = 1",
        "DELETE FROM credits.credit_transactions",
        "TRUNCATE credits.credit_transactions CASCADE",
    ],
)
async def test_c22_the_ledger_refuses_update_and_delete(running_suite: Suite, statement: str) -> None:
    await CreditsClient.on(running_suite).create()
    with (
        psycopg.connect(libpq_url(running_suite.database_url)) as conn,
        pytest.raises(psycopg.errors.RestrictViolation),
    ):
        conn.execute(statement)


async def test_c23_the_database_refuses_a_negative_balance(running_suite: Suite) -> None:
    grant = await CreditsClient.on(running_suite).create()
    with (
        psycopg.connect(libpq_url(running_suite.database_url)) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        conn.execute("UPDATE credits.credit_grants SET balance_minor = -1 WHERE id = %s", [grant.id])


async def test_c23_cached_balances_match_the_ledger(credits: CreditsClient, running_suite: Suite) -> None:
    await credits.create(new_grant(amount=500, priority=1))
    await credits.create(
        new_grant(amount=500, priority=2, expire_time=timestamp_to_proto(T0 + timedelta(days=60)))
    )
    await credits.apply(invoice("in_1", line("il_1", 700)))
    await credits.reinstate("in_1", T0 + timedelta(days=61))
    await credits.expire_due(T0 + timedelta(days=61), customer_ids=[JENNY])
    with psycopg.connect(libpq_url(running_suite.database_url)) as conn:
        mismatched = conn.execute(
            """
            SELECT g.id FROM credits.credit_grants g
            LEFT JOIN credits.credit_transactions t ON t.grant_id = g.id
            GROUP BY g.id, g.balance_minor
            HAVING g.balance_minor <> COALESCE(SUM(CASE WHEN t.kind IN
                ('credits_granted', 'credits_application_invoice_voided') THEN t.amount_minor
                ELSE -t.amount_minor END), 0)
            """
        ).fetchall()
    assert mismatched == []
