"""BatchHoldInvoiceCredits and BatchApplyInvoiceCredits through a real server (C-13, C-14, X-1).

Each entry behaves as the single call would in request order; the batch is atomic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.type import money_pb2

from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    OUTPUT_TOKENS,
    T0,
    CreditsClient,
    clients_on_own_connections,
    error_metadata,
    invoice,
    line,
    minor,
    new_grant,
    reason,
    violated_fields,
)
from tests.support.harness import Suite

PERIOD_END = T0 + timedelta(days=31)
AFTER_PERIOD = PERIOD_END + timedelta(hours=1)
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


async def grants_for(credits: CreditsClient, customer_id: str) -> list[str]:
    """Three grants of different order and scope; their ids in creation order."""
    created = [
        await credits.create(new_grant(amount=300, customer_id=customer_id, priority=1)),
        await credits.create(
            new_grant(
                amount=500,
                customer_id=customer_id,
                priority=2,
                category=grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL,
                expire_time=timestamp_to_proto(T0 + timedelta(days=90)),
            )
        ),
        await credits.create(
            new_grant(
                amount=400,
                customer_id=customer_id,
                priority=0,
                applicability_config=grant_pb.ApplicabilityConfig(
                    prices=grant_pb.ApplicabilityPrices(price_ids=[OUTPUT_TOKENS])
                ),
            )
        ),
    ]
    return [grant.id for grant in created]


def drafts(customer_id: str, prefix: str, scale: int) -> list[invoice_pb.InvoiceForCredits]:
    """Two invoices of the customer, the second asking for what the first leaves."""
    return [
        invoice(
            f"{prefix}_{customer_id}_1",
            line("il_in", 250 * scale),
            line("il_out", 150 * scale, OUTPUT_TOKENS),
            customer_id=customer_id,
        ),
        invoice(f"{prefix}_{customer_id}_2", line("il_in", 400 * scale), customer_id=customer_id),
    ]


def shape(allocation: invoice_pb.CreditAllocation, grant_ids: list[str]) -> list[tuple[str, int, int]]:
    """An allocation with each grant named by its position among the customer's grants."""
    return [(c.line_id, grant_ids.index(c.credit_grant_id), minor(c.amount)) for c in allocation.line_credits]


async def debits(credits: CreditsClient, customer_id: str) -> list[str]:
    return sorted(t.id for t in await credits.transactions(customer_id) if t.HasField("debit"))


async def test_batch_hold_then_batch_apply_allocates_as_single_calls_in_request_order(
    credits: CreditsClient,
) -> None:
    customers = ["cus_a", "cus_b", "cus_c"]
    batch_grants = {c: await grants_for(credits, c) for c in customers}
    single_grants = {c: await grants_for(credits, f"{c}_single") for c in customers}

    def interleaved(prefix: str, scale: int, suffix: str = "") -> list[invoice_pb.InvoiceForCredits]:
        per_customer = [drafts(f"{c}{suffix}", prefix, scale) for c in customers]
        return [inv for pair in zip(*per_customer, strict=True) for inv in pair]

    held = await credits.batch_hold(interleaved("in", 1))
    applied = await credits.batch_apply(interleaved("in", 2))
    single_held = [await credits.hold(inv) for inv in interleaved("in", 1, "_single")]
    single_applied = [await credits.apply(inv) for inv in interleaved("in", 2, "_single")]

    order = [c for _ in range(2) for c in customers]
    a_grants = batch_grants["cus_a"]
    assert [shape(held[0], a_grants), shape(held[3], a_grants)] == [
        [("il_out", 2, 150), ("il_in", 0, 250)],
        [("il_in", 0, 50), ("il_in", 1, 350)],  # after the first draft's hold
    ]
    assert [shape(applied[0], a_grants), shape(applied[3], a_grants)] == [
        [("il_out", 2, 300), ("il_in", 0, 250), ("il_in", 1, 150)],  # net of the second draft's hold
        [("il_in", 0, 50), ("il_in", 1, 350)],  # what the first application left
    ]
    assert [shape(a, batch_grants[c]) for a, c in zip(held, order, strict=True)] == [
        shape(a, single_grants[c]) for a, c in zip(single_held, order, strict=True)
    ]
    assert [shape(a, batch_grants[c]) for a, c in zip(applied, order, strict=True)] == [
        shape(a, single_grants[c]) for a, c in zip(single_applied, order, strict=True)
    ]
    assert [a.invoice_id for a in applied] == [inv.invoice_id for inv in interleaved("in", 2)]
    assert sum(minor(a.total) for a in applied) > 0
    for customer in customers:
        posted = await debits(credits, customer)
        assert posted == sorted(
            c.credit_balance_transaction_id
            for a in applied
            if a.invoice_id.startswith(f"in_{customer}_")
            for c in a.line_credits
        )
        assert await credits.summary(customer, as_of=AFTER_PERIOD) == await credits.summary(
            f"{customer}_single", as_of=AFTER_PERIOD
        )


async def test_a_replayed_batch_posts_nothing_and_returns_the_same_responses(credits: CreditsClient) -> None:
    await grants_for(credits, "cus_a")
    await grants_for(credits, "cus_b")
    invoices = drafts("cus_a", "in", 1) + drafts("cus_b", "in", 1)
    held = await credits.batch_hold(invoices)
    assert await credits.batch_hold(invoices) == held
    applied = await credits.batch_apply(invoices)
    posted = await debits(credits, "cus_a") + await debits(credits, "cus_b")

    assert await credits.batch_apply(invoices) == applied
    assert await credits.batch_apply(invoices, request_ids=[f"retry-{n}" for n in range(4)]) == applied
    assert await debits(credits, "cus_a") + await debits(credits, "cus_b") == posted
    assert [await credits.apply(inv) for inv in invoices] == applied


async def test_an_invoice_applied_by_a_single_call_gets_its_original_allocation_in_a_batch(
    credits: CreditsClient,
) -> None:
    await grants_for(credits, "cus_a")
    first, second = drafts("cus_a", "in", 1)
    original = await credits.apply(first)
    posted = await debits(credits, "cus_a")
    changed = invoice(first.invoice_id, line("il_in", 999), customer_id="cus_a")

    applied = await credits.batch_apply([changed, second])

    assert applied[0] == original
    assert minor(applied[1].total) > 0
    assert len(await debits(credits, "cus_a")) == len(posted) + len(applied[1].line_credits)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_apply([invoice("in_other", line("il_1", 1), customer_id="cus_a")], ["in_cus_a_2"])
    assert (raised.value.code(), reason(raised.value), error_metadata(raised.value)["index"]) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
        "0",
    )


async def test_a_bad_entry_fails_the_whole_batch_naming_it_and_nothing_is_held_or_posted(
    credits: CreditsClient,
) -> None:
    await grants_for(credits, "cus_a")
    good, other = drafts("cus_a", "in", 1)
    bad = invoice("in_bad", line("il_1", 100), customer_id="cus_a")
    bad.currency = "usd"
    before = await credits.summary("cus_a", as_of=AFTER_PERIOD)

    for call in (credits.batch_hold, credits.batch_apply):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call([good, bad, other])
        assert (raised.value.code(), reason(raised.value)) == (INVALID, "INVALID_CURRENCY")
        assert violated_fields(raised.value) == ["requests[1].invoice.currency"]
        assert error_metadata(raised.value)["index"] == "1"

    assert await credits.summary("cus_a", as_of=AFTER_PERIOD) == before
    assert await debits(credits, "cus_a") == []
    assert minor((await credits.batch_apply([good, other]))[0].total) > 0  # the request ids stayed free


async def test_a_refused_entry_rolls_back_the_entries_before_it(credits: CreditsClient) -> None:
    await grants_for(credits, "cus_a")
    await grants_for(credits, "cus_b")
    applied = await credits.apply(invoice("in_done", line("il_1", 100), customer_id="cus_b"))
    before = await credits.summary("cus_a", as_of=AFTER_PERIOD)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_hold(
            [*drafts("cus_a", "in", 1), invoice("in_done", line("il_1", 100), customer_id="cus_b")]
        )

    assert (raised.value.code(), reason(raised.value), error_metadata(raised.value)["index"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_ALREADY_APPLIED",
        "2",
    )
    assert await credits.summary("cus_a", as_of=AFTER_PERIOD) == before
    assert minor(applied.total) == 100


async def test_batches_are_limited_to_500_distinct_invoices(credits: CreditsClient) -> None:
    too_many = [invoice(f"in_{n}", line("il_1", 1)) for n in range(501)]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_hold(too_many)
    assert (raised.value.code(), reason(raised.value), violated_fields(raised.value)) == (
        INVALID,
        "BATCH_TOO_LARGE",
        ["requests"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_apply(too_many)
    assert reason(raised.value) == "BATCH_TOO_LARGE"

    twice = [
        invoice("in_1", line("il_1", 1)),
        invoice("in_2", line("il_1", 1)),
        invoice("in_1", line("il_1", 2)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_apply(twice, request_ids=["a", "b", "c"])
    assert (raised.value.code(), violated_fields(raised.value)) == (
        INVALID,
        ["requests[2].invoice.invoice_id"],
    )

    assert len(await credits.batch_apply(too_many[:500])) == 500


async def test_an_entry_reusing_a_request_id_for_another_invoice_is_refused(credits: CreditsClient) -> None:
    await credits.hold(invoice("in_1", line("il_1", 100)), request_id="r-1")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_hold(
            [invoice("in_2", line("il_1", 1)), invoice("in_3", line("il_1", 1))], ["r-2", "r-1"]
        )
    assert (raised.value.code(), reason(raised.value), error_metadata(raised.value)["index"]) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
        "1",
    )


CLIENTS = 6
CUSTOMERS = [f"cus_{n}" for n in range(5)]


@pytest.fixture
async def clients(running_suite: Suite) -> AsyncIterator[list[CreditsClient]]:
    async with clients_on_own_connections(running_suite, CLIENTS) as clients:
        yield clients


async def test_c14_concurrent_overlapping_batches_never_deadlock_and_never_overdraw(
    clients: list[CreditsClient],
) -> None:
    granted = {customer: 1000 + 100 * n for n, customer in enumerate(CUSTOMERS)}
    for customer, amount in granted.items():
        await clients[0].create(new_grant(amount=amount // 2, customer_id=customer, priority=1))
        await clients[0].create(new_grant(amount=amount - amount // 2, customer_id=customer, priority=2))
    eligible = 150  # per invoice: 6 batches x 2 invoices x 1.50 = 18.00 per customer, more than granted

    def batch(client: int) -> list[invoice_pb.InvoiceForCredits]:
        order = CUSTOMERS if client % 2 == 0 else list(reversed(CUSTOMERS))
        return [
            invoice(f"in_{client}_{customer}_{n}", line("il_1", eligible), customer_id=customer)
            for n in range(2)
            for customer in order
        ]

    async def hold_then_apply(client: int) -> list[invoice_pb.CreditAllocation]:
        await clients[client].batch_hold(batch(client))
        return await clients[client].batch_apply(batch(client))

    async def single_apply(n: int, customer: str) -> list[invoice_pb.CreditAllocation]:
        return [
            await clients[n % CLIENTS].apply(
                invoice(f"in_single_{customer}", line("il_1", 100), customer_id=customer)
            )
        ]

    outcomes = await asyncio.gather(
        *(hold_then_apply(c) for c in range(CLIENTS)), *(single_apply(n, c) for n, c in enumerate(CUSTOMERS))
    )
    results, singles = outcomes[:CLIENTS], [a for [a] in outcomes[CLIENTS:]]

    for customer in CUSTOMERS:
        total = sum(
            minor(a.total) for allocations in results for a in allocations if f"_{customer}_" in a.invoice_id
        ) + sum(minor(a.total) for a in singles if a.invoice_id == f"in_single_{customer}")
        assert total == min(CLIENTS * 2 * eligible + 100, granted[customer])
        assert await clients[0].summary(customer, as_of=AFTER_PERIOD) == {"USD": (0, 0)}


async def test_batch_entries_validate_like_single_calls(credits: CreditsClient) -> None:
    euro_line = invoice_pb.InvoiceLineForCredits(
        line_id="il_1", amount=money_pb2.Money(currency_code="EUR", units=1)
    )
    mismatched = invoice("in_2")
    mismatched.lines.append(euro_line)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_apply([invoice("in_1", line("il_1", 1)), mismatched])
    assert (reason(raised.value), violated_fields(raised.value)) == (
        "CURRENCY_MISMATCH",
        ["requests[1].invoice.lines[0].amount.currency_code"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.batch_hold([invoice("in_1", line("il_1", 1))], request_ids=["x" * 256])
    assert (reason(raised.value), violated_fields(raised.value)) == (
        "REQUEST_ID_TOO_LONG",
        ["requests[0].request_id"],
    )


async def test_x1_a_single_hold_replays_and_refuses_like_a_batch_entry(credits: CreditsClient) -> None:
    await grants_for(credits, "cus_a")
    draft = invoice("in_1", line("il_in", 100), customer_id="cus_a")
    held = await credits.hold(draft, request_id="r-1")
    assert (
        await credits.hold(invoice("in_1", line("il_in", 100), customer_id="cus_a"), request_id="r-1") == held
    )
    assert await credits.batch_hold([draft], ["r-1"]) == [held]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.hold(invoice("in_1", line("il_in", 200), customer_id="cus_a"), request_id="r-1")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )
    assert await credits.summary("cus_a", as_of=AFTER_PERIOD) == {"USD": (1100, 1200)}
