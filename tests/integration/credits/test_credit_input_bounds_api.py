"""Bad input never reaches PostgreSQL in a form it refuses (X-5, X-8), through a real server.

Each request below once failed in the database (an index row too large, a NUL byte, a
value the SQL could not take) and came back as UNAVAILABLE ("retry later") or INTERNAL.
Each must now be refused with INVALID_ARGUMENT naming the field, or answered, and no
error may echo more than 200 characters of the bad value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.type import money_pb2

from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.pagination import encode_page_token
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    JENNY,
    T0,
    CreditsClient,
    error_metadata,
    invoice,
    line,
    new_grant,
    reason,
    violated_fields,
)
from tests.support.harness import Suite

LONG = "c" * 2700  # the reviewer's customer id: over the btree index row limit
NUL = "cus_\x00jenny"
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

Call = Callable[[CreditsClient], Awaitable[object]]


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


async def refused(credits: CreditsClient, call: Call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(credits)
    return raised.value


def echoed(error: grpc.aio.AioRpcError) -> str:
    return (error.details() or "") + "".join(error_metadata(error).values())


def create(**fields: object) -> Call:
    return lambda c: c.create(new_grant(**fields))


def release(invoice_id: str = "in_1", customer_id: str = JENNY, request_id: str = "r") -> Call:
    return lambda c: c.invoices.ReleaseInvoiceCredits(
        invoice_service_pb.ReleaseInvoiceCreditsRequest(
            request_id=request_id, invoice_id=invoice_id, customer_id=customer_id
        ),
        metadata=c.service,
    )


def hold(inv: invoice_pb.InvoiceForCredits) -> Call:
    return lambda c: c.hold(inv, request_id="r")


def summary(customer_id: str = JENNY, **fields: object) -> Call:
    return lambda c: c.balances.GetCreditBalanceSummary(
        balance_pb.GetCreditBalanceSummaryRequest(customer_id=customer_id, **fields),  # type: ignore[arg-type]
        metadata=c.admin,
    )


def list_grants(**fields: object) -> Call:
    return lambda c: c.grants.ListCreditGrants(
        grant_service_pb.ListCreditGrantsRequest(**{"customer_id": JENNY, **fields}),  # type: ignore[arg-type]
        metadata=c.admin,
    )


def list_transactions(**fields: object) -> Call:
    return lambda c: c.balances.ListCreditBalanceTransactions(
        balance_pb.ListCreditBalanceTransactionsRequest(**{"customer_id": JENNY, **fields}),  # type: ignore[arg-type]
        metadata=c.admin,
    )


def expire_due(**scope: object) -> Call:
    return lambda c: c.expire_due(T0, request_id="r", **scope)


def scoped(*price_ids: str) -> grant_pb.ApplicabilityConfig:
    return grant_pb.ApplicabilityConfig(prices=grant_pb.ApplicabilityPrices(price_ids=list(price_ids)))


def forged_token(key: object, filters: list[object]) -> str:
    """A token for the list's own filters whose key is not one the service issues."""
    return encode_page_token(key, filters)  # type: ignore[arg-type]


GRANT_FILTERS: list[object] = [JENNY, 0, None]  # ListCreditGrants: customer, status, as_of
TRANSACTION_FILTERS: list[object] = [JENNY, ""]  # ListCreditBalanceTransactions: customer, grant


OUT_OF_RANGE = timestamp_pb2.Timestamp(seconds=2**62)

REFUSED: list[tuple[str, Call, str, str]] = [
    # the reviewer's requests, once UNAVAILABLE DATABASE_UNAVAILABLE (SQLSTATE 54000).
    ("create, 2700-char customer", create(customer_id=LONG), "credit_grant.customer_id", "STRING_TOO_LONG"),
    ("release, 2700-char customer", release(customer_id=LONG), "customer_id", "STRING_TOO_LONG"),
    ("release, 2700-char invoice", release(invoice_id=LONG), "invoice_id", "STRING_TOO_LONG"),
    (
        "hold, 2700-char invoice",
        hold(invoice(LONG, line("il_1", 1))),
        "invoice.invoice_id",
        "STRING_TOO_LONG",
    ),
    (
        "hold, 2700-char line",
        hold(invoice("in_1", line(LONG, 1))),
        "invoice.lines[0].line_id",
        "STRING_TOO_LONG",
    ),
    ("summary, 2700-char customer", summary(LONG), "customer_id", "STRING_TOO_LONG"),
    ("expire due, 2700-char customer", expire_due(customer_ids=[LONG]), "customer_ids[0]", "STRING_TOO_LONG"),
    ("release, 256-char request id", release(request_id="r" * 256), "request_id", "REQUEST_ID_TOO_LONG"),
    # NUL characters: PostgreSQL text cannot hold them (once INTERNAL).
    ("create, NUL in customer", create(customer_id=NUL), "credit_grant.customer_id", "INVALID_CHARACTER"),
    ("create, NUL in name", create(name="a\x00b"), "credit_grant.name", "INVALID_CHARACTER"),
    (
        "create, NUL in metadata",
        create(metadata={"k": "v\x00"}),
        "credit_grant.metadata",
        "INVALID_CHARACTER",
    ),
    (
        "create, NUL in a price id",
        create(applicability_config=scoped("price_\x00")),
        "credit_grant.applicability_config.prices.price_ids[0]",
        "INVALID_CHARACTER",
    ),
    (
        "get, NUL in id",
        lambda c: c.get("cg_\x00"),
        "id",
        "INVALID_CHARACTER",
    ),
    ("release, NUL in request id", release(request_id="r\x00"), "request_id", "INVALID_CHARACTER"),
    (
        "hold, NUL in customer",
        hold(invoice("in_1", customer_id=NUL)),
        "invoice.customer_id",
        "INVALID_CHARACTER",
    ),
    ("list, NUL in customer", list_grants(customer_id=NUL), "customer_id", "INVALID_CHARACTER"),
    (
        "transactions, NUL in grant id",
        list_transactions(credit_grant_id="cg_\x00"),
        "credit_grant_id",
        "INVALID_CHARACTER",
    ),
    (
        "expire due, NUL in excluded",
        expire_due(exclude_customer_ids=[NUL]),
        "exclude_customer_ids[0]",
        "INVALID_CHARACTER",
    ),
    # Huge arrays.
    (
        "create, 100,000 price ids",
        create(applicability_config=scoped(*(f"price_{n}" for n in range(100_000)))),
        "credit_grant.applicability_config.prices.price_ids",
        "INVALID_APPLICABILITY",
    ),
    (
        "summary, 100,000 price ids",
        summary(applicability_config=scoped(*(f"price_{n}" for n in range(100_000)))),
        "applicability_config.prices.price_ids",
        "INVALID_APPLICABILITY",
    ),
    (
        "expire due, 100,001 customers",
        expire_due(customer_ids=[f"cus_{n}" for n in range(100_001)]),
        "customer_ids",
        "INVALID_ARGUMENT",
    ),
    # Enum numbers that do not exist.
    ("create, category 99", create(category=99), "credit_grant.category", "INVALID_ARGUMENT"),
    ("list, status 99", list_grants(status=99), "status", "INVALID_ARGUMENT"),
    (
        "create, price type 7",
        create(applicability_config=grant_pb.ApplicabilityConfig(price_type=7)),
        "credit_grant.applicability_config.price_type",
        "INVALID_APPLICABILITY",
    ),
    # Timestamps beyond what a Timestamp may hold.
    (
        "create, effective time",
        create(effective_time=OUT_OF_RANGE),
        "credit_grant.effective_time",
        "INVALID_TIMESTAMP",
    ),
    ("summary, as_of", summary(as_of=OUT_OF_RANGE), "as_of", "INVALID_TIMESTAMP"),
    (
        "expire due, as_of",
        lambda c: c.invoices.ExpireDueCreditGrants(
            invoice_service_pb.ExpireDueCreditGrantsRequest(request_id="r", as_of=OUT_OF_RANGE),
            metadata=c.service,
        ),
        "as_of",
        "INVALID_TIMESTAMP",
    ),
    # Page sizes and page tokens (a key of the wrong shape once reached the SQL: INTERNAL).
    ("list, negative page size", list_grants(page_size=-1), "page_size", "INVALID_ARGUMENT"),
    (
        "list, token of a bad time",
        list_grants(page_token=forged_token([{"t": "not a time"}, "cg_1"], GRANT_FILTERS)),
        "page_token",
        "INVALID_ARGUMENT",
    ),
    (
        "list, token of a bad key",
        list_grants(page_token=forged_token(["x", 1], GRANT_FILTERS)),
        "page_token",
        "INVALID_ARGUMENT",
    ),
    (
        "transactions, token of a NUL id",
        list_transactions(page_token=forged_token([T0, "cbt_\x00"], TRANSACTION_FILTERS)),
        "page_token",
        "INVALID_ARGUMENT",
    ),
    ("transactions, foreign token", list_transactions(page_token="e30"), "page_token", "INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(
    ("call", "field", "expected_reason"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
async def test_x8_bad_input_is_refused_naming_the_field(
    credits: CreditsClient, call: Call, field: str, expected_reason: str
) -> None:
    error = await refused(credits, call)
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, expected_reason)
    assert field in violated_fields(error)
    assert LONG[:201] not in echoed(error)


async def test_x5_errors_echo_at_most_200_characters_of_a_bad_value(credits: CreditsClient) -> None:
    # Under the request guard's 255 characters, so that the service's own checks answer.
    bad_currency = new_grant(amount=money_pb2.Money(currency_code="Q" * 250, units=1))
    long_path = grant_pb.CreditGrant(id="cg_1")
    unknown = await refused(
        credits,
        lambda c: c.grants.UpdateCreditGrant(
            grant_service_pb.UpdateCreditGrantRequest(
                credit_grant=long_path, update_mask=field_mask_pb2.FieldMask(paths=["p" * 250])
            ),
            metadata=c.admin,
        ),
    )
    currency = await refused(credits, lambda c: c.create(bad_currency))
    missing = await refused(credits, lambda c: c.get("cg_" + "x" * 252))
    assert (reason(currency), reason(unknown), reason(missing)) == (
        "INVALID_CURRENCY",
        "INVALID_ARGUMENT",
        "CREDIT_GRANT_NOT_FOUND",
    )
    assert "Q" * 201 not in echoed(currency)
    assert "p" * 201 not in echoed(unknown)
    assert "x" * 201 not in echoed(missing)


async def test_x8_an_id_of_255_characters_is_stored_and_read(credits: CreditsClient) -> None:
    customer_id = "c" * 255
    grant = await credits.create(new_grant(customer_id=customer_id))
    assert (await credits.get(grant.id)).customer_id == customer_id
    assert await credits.summary(customer_id, as_of=T0) == {"USD": (1000, 1000)}
    held = invoice("i" * 255, line("l" * 255, 400), customer_id=customer_id)
    allocation = await credits.hold(held, request_id="r" * 255)
    assert [entry.line_id for entry in allocation.line_credits] == ["l" * 255]
    released = await credits.release("i" * 255, customer_id=customer_id, request_id="r" * 255)
    assert released.invoice_id == "i" * 255


async def test_x8_as_of_at_the_ends_of_time_is_answered(credits: CreditsClient) -> None:
    grant = await credits.create(new_grant(effective_time=timestamp_to_proto(EARLIEST)))
    timeless = await credits.create(
        new_grant(effective_time=timestamp_to_proto(EARLIEST), expire_time=timestamp_to_proto(LATEST))
    )
    assert (await credits.get(grant.id, as_of=EARLIEST)).status == grant_pb.CREDIT_GRANT_STATUS_AVAILABLE
    assert (await credits.get(timeless.id, as_of=LATEST)).status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED
    assert await credits.summary(as_of=EARLIEST) == {"USD": (2000, 2000)}
    assert await credits.summary(as_of=LATEST) == {"USD": (1000, 2000)}
    listed = await list_grants(as_of=timestamp_to_proto(LATEST), status=grant_pb.CREDIT_GRANT_STATUS_EXPIRED)(
        credits
    )
    assert [g.id for g in listed.credit_grants] == [timeless.id]  # type: ignore[attr-defined]
    late = invoice("in_late", line("il_1", 300), period_end=LATEST - timedelta(days=1), as_of=LATEST)
    assert sum(e.amount.units for e in (await credits.preview(late)).line_credits) == 3
    early = invoice("in_early", line("il_1", 300), period_end=EARLIEST, as_of=EARLIEST)
    assert (await credits.hold(early)).total.units == 3
    assert (await credits.expire_due(EARLIEST, customer_ids=[JENNY])).expired_grant_count == 0
    swept = await credits.expire_due(LATEST, customer_ids=[JENNY])
    assert (swept.expired_grant_count, swept.transaction_count) == (1, 1)


async def test_x4_a_huge_page_size_is_capped(credits: CreditsClient) -> None:
    await credits.create()
    listed = await list_grants(page_size=2**31 - 1)(credits)
    assert len(listed.credit_grants) == 1  # type: ignore[attr-defined]
