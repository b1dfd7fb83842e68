"""InvoiceCreditService through a real server and PostgreSQL (C-10..C-15, C-20)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.type import money_pb2

from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
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
    violated_fields,
)
from tests.support.harness import Suite, bearer

PERIOD_END = T0 + timedelta(days=31)
AFTER_PERIOD = PERIOD_END + timedelta(hours=1)


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


def entries(allocation: invoice_pb.CreditAllocation) -> list[tuple[str, str, int]]:
    return [(c.line_id, c.credit_grant_id, minor(c.amount)) for c in allocation.line_credits]


async def test_spec_example_10_usd_grant_on_a_90_usd_line(credits: CreditsClient) -> None:
    grant = await credits.create()
    applied = await credits.apply(invoice("in_1", line("il_1", 9000)))
    assert entries(applied) == [("il_1", grant.id, 1000)]
    assert minor(applied.total) == 1000 and applied.line_credits[0].credit_balance_transaction_id.startswith(
        "cbt_"
    )
    assert minor((await credits.get(grant.id)).ledger_balance) == 0


async def test_c10_eligibility_period_currency_scope_and_metered_lines(credits: CreditsClient) -> None:
    scoped = await credits.create(
        new_grant(
            applicability_config=grant_pb.ApplicabilityConfig(
                prices=grant_pb.ApplicabilityPrices(price_ids=[OUTPUT_TOKENS])
            )
        )
    )
    late = await credits.create(
        new_grant(effective_time=timestamp_to_proto(PERIOD_END + timedelta(seconds=1)))
    )
    await credits.create(new_grant(expire_time=timestamp_to_proto(PERIOD_END)))
    euro = await credits.create(new_grant(amount=money_pb2.Money(currency_code="EUR", units=10)))
    preview = await credits.preview(
        invoice(
            "in_1",
            line("il_in", 500, INPUT_TOKENS),
            line("il_out", 500, OUTPUT_TOKENS),
            line("il_seats", 500, OUTPUT_TOKENS, metered=False),
            as_of=PERIOD_END + timedelta(days=2),
        )
    )
    assert entries(preview) == [("il_out", scoped.id, 500)]
    assert late.id and euro.id


async def test_c11_c12_order_and_line_order(credits: CreditsClient) -> None:
    paid = await credits.create(new_grant(amount=300))
    promo = await credits.create(new_grant(amount=300, category=grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL))
    first = await credits.create(new_grant(amount=300, priority=10))
    expiring = await credits.create(
        new_grant(amount=300, expire_time=timestamp_to_proto(T0 + timedelta(days=90)))
    )
    applied = await credits.apply(invoice("in_1", line("il_1", 500), line("il_2", 0), line("il_3", 900)))
    assert entries(applied) == [
        ("il_1", first.id, 300),
        ("il_1", expiring.id, 200),
        ("il_3", expiring.id, 100),
        ("il_3", promo.id, 300),
        ("il_3", paid.id, 300),
    ]
    assert minor(applied.total) == 1200


async def test_c13_hold_lowers_available_not_ledger_and_is_replaced(credits: CreditsClient) -> None:
    grant = await credits.create()
    held = await credits.hold(invoice("in_1", line("il_1", 400)))
    assert (
        entries(held) == [("il_1", grant.id, 400)] and not held.line_credits[0].credit_balance_transaction_id
    )
    assert await credits.summary(as_of=AFTER_PERIOD) == {"USD": (600, 1000)}
    await credits.hold(invoice("in_1", line("il_1", 700)), request_id="hold-in_1-again")
    assert await credits.summary(as_of=AFTER_PERIOD) == {"USD": (300, 1000)}
    other = await credits.hold(invoice("in_2", line("il_1", 700)))
    assert minor(other.total) == 300
    assert entries(await credits.preview(invoice("in_1", line("il_1", 1000)))) == [("il_1", grant.id, 700)]
    assert await credits.summary(as_of=AFTER_PERIOD) == {"USD": (0, 1000)}


async def test_c13_apply_recomputes_posts_one_debit_per_grant_per_line_and_drops_the_hold(
    credits: CreditsClient,
) -> None:
    a = await credits.create(new_grant(amount=500, priority=1))
    b = await credits.create(new_grant(amount=500, priority=2))
    await credits.hold(invoice("in_1", line("il_1", 100)))
    applied = await credits.apply(invoice("in_1", line("il_1", 600), line("il_2", 300)))
    assert entries(applied) == [("il_1", a.id, 500), ("il_1", b.id, 100), ("il_2", b.id, 300)]
    debits = [t for t in await credits.transactions() if t.HasField("debit")]
    assert sorted(
        (t.debit.invoice_line_id, t.credit_grant_id, minor(t.debit.amount)) for t in debits
    ) == sorted(entries(applied))
    assert {t.debit.invoice_id for t in debits} == {"in_1"}
    assert await credits.summary(as_of=AFTER_PERIOD) == {"USD": (100, 100)}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.hold(invoice("in_1", line("il_1", 1)), request_id="late-hold")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_ALREADY_APPLIED",
    )


async def test_c14_apply_is_idempotent_per_invoice_whatever_the_request(credits: CreditsClient) -> None:
    await credits.create()
    first = await credits.apply(invoice("in_1", line("il_1", 400)))
    assert await credits.apply(invoice("in_1", line("il_1", 400))) == first
    assert await credits.apply(invoice("in_1", line("il_1", 900))) == first
    assert await credits.apply(invoice("in_1", line("il_1", 900)), request_id="another") == first
    assert len([t for t in await credits.transactions() if t.HasField("debit")]) == 1
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.apply(invoice("in_2", line("il_1", 1)), request_id="in_1")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )


async def test_c14_an_application_without_credit_is_recorded(credits: CreditsClient) -> None:
    applied = await credits.apply(invoice("in_1", line("il_1", 400)))
    assert (list(applied.line_credits), applied.total.currency_code, minor(applied.total)) == ([], "USD", 0)
    await credits.create()
    assert await credits.apply(invoice("in_1", line("il_1", 400)), request_id="retry") == applied


async def test_c13_release_restores_available_and_refuses_after_apply(credits: CreditsClient) -> None:
    await credits.create()
    held = await credits.hold(invoice("in_1", line("il_1", 400)))
    assert await credits.release("in_1") == held
    assert await credits.summary(as_of=AFTER_PERIOD) == {"USD": (1000, 1000)}
    nothing = await credits.release("in_1", request_id="again")
    assert (list(nothing.line_credits), nothing.HasField("total")) == ([], False)
    await credits.apply(invoice("in_2", line("il_1", 1)))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.release("in_2")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_ALREADY_APPLIED",
    )


async def test_c15_reinstate_gives_credits_back_once_and_expires_them_on_an_expired_grant(
    credits: CreditsClient,
) -> None:
    lasting = await credits.create(new_grant(amount=300, priority=1))
    expiring = await credits.create(
        new_grant(amount=500, priority=2, expire_time=timestamp_to_proto(T0 + timedelta(days=60)))
    )
    await credits.apply(invoice("in_1", line("il_1", 600)))
    void_time = T0 + timedelta(days=70)
    posted = await credits.reinstate("in_1", void_time)
    assert [(t.credit_grant_id, t.WhichOneof("detail")) for t in posted] == [
        (lasting.id, "credit"),
        (expiring.id, "credit"),
        (expiring.id, "debit"),
    ]
    assert [minor(t.credit.amount) for t in posted[:2]] == [300, 300]
    assert posted[1].credit.invoice_id == "in_1" and minor(posted[2].debit.amount) == 300
    assert posted[0].effective_time == timestamp_to_proto(void_time)
    assert await credits.reinstate("in_1", void_time, request_id="void-again") == posted
    assert minor((await credits.get(lasting.id)).ledger_balance) == 300
    assert minor((await credits.get(expiring.id)).ledger_balance) == 200  # its expiry is not swept yet
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.reinstate("in_unknown", void_time)
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_APPLIED",
    )


async def test_c20_expiry_is_reflected_at_once_and_posted_by_the_sweep(credits: CreditsClient) -> None:
    expires = T0 + timedelta(days=60)
    grant = await credits.create(new_grant(expire_time=timestamp_to_proto(expires)))
    await credits.hold(invoice("in_1", line("il_1", 100)))
    assert await credits.summary(as_of=expires - timedelta(seconds=1)) == {"USD": (900, 1000)}
    assert await credits.summary(as_of=expires) == {"USD": (0, 1000)}
    swept = await credits.expire_due(expires, customer_ids=[JENNY])
    assert (swept.expired_grant_count, swept.transaction_count) == (1, 1)
    assert await credits.summary(as_of=expires) == {"USD": (0, 0)}
    [expiry, _] = await credits.transactions(grant_id=grant.id)
    assert (expiry.debit.type, minor(expiry.debit.amount), expiry.effective_time) == (
        2,
        1000,
        timestamp_to_proto(expires),
    )
    again = await credits.expire_due(expires + timedelta(days=1))
    assert (again.expired_grant_count, again.transaction_count) == (0, 0)


async def test_expire_due_respects_customer_scope(credits: CreditsClient) -> None:
    expires = T0 + timedelta(days=60)
    await credits.create(new_grant(expire_time=timestamp_to_proto(expires)))
    await credits.create(new_grant(customer_id="cus_clocked", expire_time=timestamp_to_proto(expires)))
    swept = await credits.expire_due(expires, exclude_customer_ids=["cus_clocked"])
    assert swept.expired_grant_count == 1
    assert await credits.summary("cus_clocked") == {"USD": (0, 1000)}


@pytest.mark.parametrize(
    ("bad", "expected_reason", "field"),
    [
        ({"currency": "usd"}, "INVALID_CURRENCY", "invoice.currency"),
        (
            {
                "lines": [
                    invoice_pb.InvoiceLineForCredits(
                        line_id="il_1", amount=money_pb2.Money(currency_code="EUR", units=1)
                    )
                ]
            },
            "CURRENCY_MISMATCH",
            "invoice.lines[0].amount.currency_code",
        ),
        (
            {
                "lines": [
                    invoice_pb.InvoiceLineForCredits(
                        line_id="il_1", amount=money_pb2.Money(currency_code="USD", nanos=1)
                    )
                ]
            },
            "INVALID_AMOUNT",
            "invoice.lines[0].amount.nanos",
        ),
        ({"lines": [line("il_1", 1), line("il_1", 2)]}, "INVALID_ARGUMENT", "invoice.lines[1].line_id"),
        ({"invoice_id": ""}, "INVALID_ARGUMENT", "invoice.invoice_id"),
    ],
)
async def test_invoice_arguments_are_validated(
    credits: CreditsClient, bad: dict, expected_reason: str, field: str
) -> None:
    malformed = invoice("in_1")
    for key, value in bad.items():
        if key == "lines":
            malformed.lines.extend(value)
        else:
            setattr(malformed, key, value)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.apply(malformed, request_id="r")
    assert (raised.value.code(), reason(raised.value)) == (grpc.StatusCode.INVALID_ARGUMENT, expected_reason)
    assert violated_fields(raised.value) == [field]


async def test_invoice_calls_need_the_service_permission(
    credits: CreditsClient, running_suite: Suite
) -> None:
    read_only = bearer(running_suite.key(Role.READ))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.invoices.PreviewInvoiceCredits(
            invoice_service_pb.PreviewInvoiceCreditsRequest(invoice=invoice("in_1")), metadata=read_only
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_admin_key_cannot_draw_credits_for_an_invoice_x9(credits: CreditsClient) -> None:
    """InvoiceCreditService is for invoicing's service key: an operator's admin key may not
    apply credits to an invoice invoicing never had, and the grant keeps its balance."""
    await credits.create()
    before = await credits.summary(as_of=T0 + timedelta(days=40))
    forged = invoice("in_forged", line("il_1", 500))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.invoices.ApplyInvoiceCredits(
            invoice_service_pb.ApplyInvoiceCreditsRequest(invoice=forged, request_id="r"),
            metadata=credits.admin,
        )
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    assert await credits.summary(as_of=T0 + timedelta(days=40)) == before
    await credits.invoices.ApplyInvoiceCredits(  # the same call with the service key draws
        invoice_service_pb.ApplyInvoiceCreditsRequest(invoice=forged, request_id="r"),
        metadata=credits.service,
    )
    after = await credits.summary(as_of=T0 + timedelta(days=40))
    assert after["USD"][1] == before["USD"][1] - 500
