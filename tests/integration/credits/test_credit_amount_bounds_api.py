"""Amounts never overflow what is stored or sent (X-5), through a real server.

The outside review: two JPY grants of 2**63 - 1 for one customer were accepted, after
which GetCreditBalanceSummary answered INTERNAL for good. Grants are now bounded where
they enter (``credits_service.domain.limits``), and amounts stored before the bound
never make a read INTERNAL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest
from google.type import money_pb2

from credits_service.domain.limits import MAX_CUSTOMER_CREDIT_MINOR, MAX_GRANT_AMOUNT_MINOR
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.db.urls import libpq_url
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    JENNY,
    T0,
    CreditsClient,
    invoice,
    line,
    new_grant,
    reason,
    violated_fields,
)
from tests.support.harness import Suite

INT64_MAX = 2**63 - 1
AS_OF = T0 + timedelta(days=40)


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


def jpy(units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="JPY", units=units)


def jpy_invoice(invoice_id: str, *amounts: int) -> invoice_pb.InvoiceForCredits:
    inv = invoice(invoice_id)
    inv.currency = "JPY"
    inv.lines.extend(
        invoice_pb.InvoiceLineForCredits(line_id=f"il_{n}", price_id="price_a", amount=jpy(a), metered=True)
        for n, a in enumerate(amounts)
    )
    return inv


async def jpy_summary(credits: CreditsClient, **filters: object) -> dict[str, tuple[int, int]]:
    """GetCreditBalanceSummary in whole units (JPY has no minor unit below the yen)."""
    reply = await credits.balances.GetCreditBalanceSummary(
        balance_pb.GetCreditBalanceSummaryRequest(customer_id=JENNY, **filters),  # type: ignore[arg-type]
        metadata=credits.admin,
    )
    return {
        b.ledger_balance.currency_code: (b.available_balance.units, b.ledger_balance.units)
        for b in reply.credit_balance_summary.balances
    }


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def store_legacy_grant(suite: Suite, grant_id: str, amount_minor: int, currency: str = "JPY") -> None:
    """A grant as a version without the amount bound could store it (and did)."""
    with psycopg.connect(libpq_url(suite.database_url)) as conn:
        conn.execute(
            "INSERT INTO credits.credit_customers VALUES (%s, %s) ON CONFLICT DO NOTHING", [JENNY, T0]
        )
        conn.execute(
            """
            INSERT INTO credits.credit_grants (id, customer_id, currency, amount_minor, name, category,
                priority, all_metered_prices, price_ids, effective_at, metadata, balance_minor,
                create_time, update_time)
            VALUES (%(id)s, %(customer)s, %(currency)s, %(amount)s, '', 'paid', 50, true, '{}', %(t0)s,
                    '{}', %(amount)s, %(t0)s, %(t0)s)
            """,
            {"id": grant_id, "customer": JENNY, "currency": currency, "amount": amount_minor, "t0": T0},
        )
        conn.execute(
            """
            INSERT INTO credits.credit_transactions (id, customer_id, grant_id, kind, currency,
                amount_minor, effective_at, create_time)
            VALUES (%s, %s, %s, 'credits_granted', %s, %s, %s, %s)
            """,
            [f"cbt_{grant_id}", JENNY, grant_id, currency, amount_minor, T0, T0],
        )


async def test_x5_grants_of_int64_max_are_refused_and_the_summary_stays_readable(
    credits: CreditsClient,
) -> None:
    for _ in range(2):
        error = await refused(credits.create(new_grant(amount=jpy(INT64_MAX))))
        assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "AMOUNT_TOO_LARGE")
        assert violated_fields(error) == ["credit_grant.amount.units"]
    for _ in range(3):
        await credits.create(new_grant(amount=jpy(MAX_GRANT_AMOUNT_MINOR)))
    total = 3 * MAX_GRANT_AMOUNT_MINOR
    assert await jpy_summary(credits, as_of=timestamp_to_proto(AS_OF)) == {"JPY": (total, total)}


@pytest.mark.parametrize(
    ("amount", "expected_reason"),
    [
        (jpy(MAX_GRANT_AMOUNT_MINOR + 1), "AMOUNT_TOO_LARGE"),
        (money_pb2.Money(currency_code="USD", units=INT64_MAX), "AMOUNT_TOO_LARGE"),
        (money_pb2.Money(currency_code="USD", units=-INT64_MAX, nanos=-990_000_000), "INVALID_AMOUNT"),
        (money_pb2.Money(currency_code="KWD", units=10**12, nanos=1_000_000), "AMOUNT_TOO_LARGE"),
    ],
    ids=["jpy over the bound", "usd int64 units", "usd most negative", "kwd over the bound"],
)
async def test_x5_grant_amounts_at_the_edges_are_refused_naming_the_field(
    credits: CreditsClient, amount: money_pb2.Money, expected_reason: str
) -> None:
    error = await refused(credits.create(new_grant(amount=amount)))
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, expected_reason)
    assert violated_fields(error) == ["credit_grant.amount.units"]


async def test_x5_a_customers_live_grants_stop_at_the_credit_total(
    credits: CreditsClient, running_suite: Suite
) -> None:
    """Reinstatements can bring back grants that C-4 no longer counts; the total of the
    grants that can hold credits is bounded too, so sums fit 64 bits whatever happened."""
    store_legacy_grant(running_suite, "cg_legacy", MAX_CUSTOMER_CREDIT_MINOR - 10)
    await credits.create(new_grant(amount=jpy(10)))
    error = await refused(credits.create(new_grant(amount=jpy(1))))
    assert (error.code(), reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "GRANT_TOTAL_LIMIT_REACHED")
    assert len(await credits.transactions()) == 2
    await credits.create(new_grant(amount=money_pb2.Money(currency_code="USD", units=1)))  # other currency


async def test_x5_stored_extreme_amounts_never_make_reads_internal(
    credits: CreditsClient, running_suite: Suite
) -> None:
    """The reviewer's state, stored before the bound: two JPY grants of 2**63 - 1."""
    store_legacy_grant(running_suite, "cg_a", INT64_MAX)
    store_legacy_grant(running_suite, "cg_b", INT64_MAX)

    # What fits is answered: each grant, its ledger, the customer's grants.
    assert (await credits.get("cg_a")).ledger_balance == jpy(INT64_MAX)
    assert [t.credit.amount.units for t in await credits.transactions()] == [INT64_MAX] * 2
    # What google.type.Money cannot carry is a clear, permanent refusal, not INTERNAL.
    error = await refused(credits.summary())
    assert (error.code(), reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "AMOUNT_OUT_OF_RANGE")
    too_much = jpy_invoice("in_1", INT64_MAX, INT64_MAX)
    for call in (credits.preview(too_much), credits.hold(too_much), credits.apply(too_much)):
        error = await refused(call)
        assert (error.code(), reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "AMOUNT_OUT_OF_RANGE")
    # Nothing was held or posted by the refused calls; a draw that fits still works.
    assert len(await credits.transactions()) == 2
    applied = await credits.apply(jpy_invoice("in_2", 5))
    assert applied.total == jpy(5)
    held_out = await jpy_summary(credits, credit_grant_id="cg_b", as_of=timestamp_to_proto(AS_OF))
    assert held_out == {"JPY": (INT64_MAX, INT64_MAX)}


@pytest.mark.parametrize(
    ("amounts", "currency", "expected_reason", "field"),
    [
        ([INT64_MAX], "USD", "AMOUNT_TOO_LARGE", "invoice.lines[0].amount.units"),
        ([1, -INT64_MAX], "USD", "AMOUNT_TOO_LARGE", "invoice.lines[1].amount.units"),
    ],
)
async def test_x5_line_amounts_beyond_64_bits_of_minor_units_are_refused(
    credits: CreditsClient, amounts: list[int], currency: str, expected_reason: str, field: str
) -> None:
    inv = invoice("in_1")
    inv.lines.extend(
        invoice_pb.InvoiceLineForCredits(
            line_id=f"il_{n}", amount=money_pb2.Money(currency_code=currency, units=a), metered=True
        )
        for n, a in enumerate(amounts)
    )
    for call in (credits.hold(inv), credits.apply(inv), credits.preview(inv)):
        error = await refused(call)
        assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, expected_reason)
        assert violated_fields(error) == [field]


async def test_x5_lines_at_the_int64_edges_draw_exactly(credits: CreditsClient) -> None:
    grant = await credits.create(new_grant(amount=jpy(MAX_GRANT_AMOUNT_MINOR)))
    inv = jpy_invoice("in_1", -INT64_MAX, INT64_MAX, INT64_MAX)
    applied = await credits.apply(inv)
    assert [(e.line_id, e.amount) for e in applied.line_credits] == [("il_1", jpy(MAX_GRANT_AMOUNT_MINOR))]
    assert applied.total == jpy(MAX_GRANT_AMOUNT_MINOR)
    assert (await credits.get(grant.id, as_of=AS_OF)).status == grant_pb.CREDIT_GRANT_STATUS_DEPLETED
    [credit] = await credits.reinstate("in_1", AS_OF)
    assert credit.credit.amount == jpy(MAX_GRANT_AMOUNT_MINOR)


async def test_x5_an_invoice_of_more_than_10000_lines_is_refused(credits: CreditsClient) -> None:
    inv = invoice("in_1", *(line(f"il_{n}", 1) for n in range(10_001)))
    error = await refused(credits.preview(inv))
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "TOO_MANY_LINES")
    assert violated_fields(error) == ["invoice.lines"]


async def test_x5_a_batch_names_the_entry_with_an_amount_too_large(credits: CreditsClient) -> None:
    good = invoice("in_1", line("il_1", 100))
    bad = invoice("in_2")
    bad.lines.append(
        invoice_pb.InvoiceLineForCredits(
            line_id="il_1", amount=money_pb2.Money(currency_code="USD", units=INT64_MAX)
        )
    )
    error = await refused(
        credits.invoices.BatchApplyInvoiceCredits(
            invoice_service_pb.BatchApplyInvoiceCreditsRequest(
                requests=[
                    invoice_service_pb.ApplyInvoiceCreditsRequest(request_id=inv.invoice_id, invoice=inv)
                    for inv in (good, bad)
                ]
            ),
            metadata=credits.service,
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "AMOUNT_TOO_LARGE")
    assert violated_fields(error) == ["requests[1].invoice.lines[0].amount.units"]


async def test_x5_expiry_sweeps_at_the_ends_of_time_answer(credits: CreditsClient) -> None:
    await credits.create(new_grant(expire_time=timestamp_to_proto(T0 + timedelta(days=1))))
    nothing = await credits.expire_due(datetime(1, 1, 1, tzinfo=UTC))
    everything = await credits.expire_due(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert (nothing.expired_grant_count, everything.expired_grant_count) == (0, 1)
    assert await credits.summary(as_of=T0) == {"USD": (0, 0)}
