"""Test clocks in credits (I-18) through a real server: a customer on a clock lives at the
clock's time (default effective time, statuses, balances, draws), the wall-clock sweep
leaves it alone, and only service keys may tell credits about clocks (X-9).

The suite runs on a frozen wall clock (``WALL``), so that "now" is known exactly; the
test clock stands more than a year before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from drawdown.auth.roles import Role
from drawdown.clock import FrozenClock
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.credits.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.credits.credit_api_builders import (
    CreditsClient,
    error_metadata,
    invoice,
    line,
    minor,
    new_grant,
    reason,
    violated_fields,
)
from tests.support.harness import Suite, bearer, start_suite

WALL = datetime(2031, 6, 1, tzinfo=UTC)
CLOCK_TIME = datetime(2030, 1, 1, tzinfo=UTC)
CLOCKED = "cus_clocked"
WALLED = "cus_walled"
CLOCK = "clock_1"


@pytest.fixture
async def suite(database_url: str) -> AsyncIterator[Suite]:
    async with start_suite(database_url, clock=FrozenClock(WALL)) as started:
        yield started


@pytest.fixture
def credits(suite: Suite) -> CreditsClient:
    return CreditsClient.on(suite)


@pytest.fixture
def clocks(suite: Suite) -> clock_grpc.TestClockTimeServiceStub:
    return clock_grpc.TestClockTimeServiceStub(suite.channel("credits"))


async def set_time(
    clocks: clock_grpc.TestClockTimeServiceStub,
    credits: CreditsClient,
    frozen_time: datetime,
    *customer_ids: str,
    clock_id: str = CLOCK,
    request_id: str = "",
) -> datetime:
    reply = await clocks.SetTestClockTime(
        clock_pb.SetTestClockTimeRequest(
            test_clock_id=clock_id,
            frozen_time=timestamp_to_proto(frozen_time),
            customer_ids=list(customer_ids),
            request_id=request_id,
        ),
        metadata=credits.service,
    )
    return reply.frozen_time.ToDatetime(tzinfo=UTC)


def at(moment: datetime):
    return timestamp_to_proto(moment)


async def statuses(credits: CreditsClient, customer_id: str, status: int = 0) -> list[tuple[str, int]]:
    reply = await credits.grants.ListCreditGrants(
        grant_service_pb.ListCreditGrantsRequest(customer_id=customer_id, status=status),
        metadata=credits.admin,
    )
    return [(g.id, g.status) for g in reply.credit_grants]


async def test_i18_a_grant_without_effective_time_takes_its_clocks_time(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    assert await set_time(clocks, credits, CLOCK_TIME, CLOCKED) == CLOCK_TIME
    expires = CLOCK_TIME + timedelta(days=30)  # long before the wall clock's now
    on_clock = await credits.create(
        new_grant(customer_id=CLOCKED, effective_time=None, expire_time=at(expires))
    )
    on_wall = await credits.create(new_grant(customer_id=WALLED, effective_time=None))
    assert on_clock.effective_time == at(CLOCK_TIME)
    assert on_clock.status == grant_pb.CREDIT_GRANT_STATUS_AVAILABLE  # judged at the clock, not expired
    assert [t.effective_time for t in await credits.transactions(CLOCKED)] == [at(CLOCK_TIME)]
    assert on_wall.effective_time == at(WALL)
    # The wall clock's customer cannot have that expiry: it would end before it starts.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await credits.create(new_grant(customer_id=WALLED, effective_time=None, expire_time=at(expires)))
    assert reason(raised.value) == "INVALID_EXPIRY"


async def test_i18_reads_without_as_of_follow_the_clock(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED)
    grant = await credits.create(
        new_grant(
            customer_id=CLOCKED,
            effective_time=at(CLOCK_TIME + timedelta(days=10)),
            expire_time=at(CLOCK_TIME + timedelta(days=40)),
        )
    )
    pending, available, expired = (
        grant_pb.CREDIT_GRANT_STATUS_PENDING,
        grant_pb.CREDIT_GRANT_STATUS_AVAILABLE,
        grant_pb.CREDIT_GRANT_STATUS_EXPIRED,
    )
    expected = [
        (CLOCK_TIME, pending, (0, 1000)),
        (CLOCK_TIME + timedelta(days=20), available, (1000, 1000)),
        (CLOCK_TIME + timedelta(days=50), expired, (0, 1000)),
    ]
    for moment, status, balances in expected:
        await set_time(clocks, credits, moment)
        assert (await credits.get(grant.id)).status == status
        assert await statuses(credits, CLOCKED) == [(grant.id, status)]
        assert await statuses(credits, CLOCKED, status) == [(grant.id, status)]
        assert await credits.summary(CLOCKED) == {"USD": balances}
    # An explicit as_of still wins over the clock.
    assert (await credits.get(grant.id, as_of=CLOCK_TIME)).status == pending
    assert await credits.summary(CLOCKED, as_of=CLOCK_TIME + timedelta(days=20)) == {"USD": (1000, 1000)}


async def test_i18_draws_without_as_of_are_judged_at_the_clock(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED)
    await credits.create(new_grant(customer_id=CLOCKED, effective_time=at(CLOCK_TIME + timedelta(days=10))))
    draft = invoice(
        "in_1", line("il_1", 300), customer_id=CLOCKED, period_end=CLOCK_TIME + timedelta(days=31)
    )
    draft.ClearField("as_of")
    assert list((await credits.preview(draft)).line_credits) == []  # still pending at the clock
    assert list((await credits.hold(draft)).line_credits) == []
    await set_time(clocks, credits, CLOCK_TIME + timedelta(days=31))
    assert minor((await credits.preview(draft)).total) == 300
    assert minor((await credits.hold(draft, request_id="hold-again")).total) == 300
    assert await credits.summary(CLOCKED) == {"USD": (700, 1000)}
    [batch] = await credits.batch_apply([draft])
    assert minor(batch.total) == 300
    [applied] = await credits.transactions(CLOCKED, page_size=1)
    assert applied.effective_time == at(CLOCK_TIME + timedelta(days=31))


async def test_i18_expire_and_reinstate_use_the_clocks_time(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED)
    grant = await credits.create(new_grant(customer_id=CLOCKED, effective_time=None))
    final = invoice("in_1", line("il_1", 400), customer_id=CLOCKED, period_end=CLOCK_TIME)
    final.ClearField("as_of")
    await credits.apply(final)
    moved = CLOCK_TIME + timedelta(days=3)
    await set_time(clocks, credits, moved)
    reinstated = await credits.invoices.ReinstateInvoiceCredits(
        invoice_service_pb.ReinstateInvoiceCreditsRequest(
            request_id="void-1", invoice_id="in_1", customer_id=CLOCKED
        ),
        metadata=credits.service,
    )
    assert [t.effective_time for t in reinstated.credit_balance_transactions] == [at(moved)]
    expired = await credits.grants.ExpireCreditGrant(
        grant_service_pb.ExpireCreditGrantRequest(id=grant.id), metadata=credits.admin
    )
    assert expired.credit_grant.expire_time == at(moved)
    assert expired.credit_grant.status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED


async def test_i18_the_wall_clock_sweep_skips_clock_customers(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED)
    expires = at(CLOCK_TIME + timedelta(days=30))
    for customer_id in (CLOCKED, WALLED, "cus_excluded"):
        await credits.create(
            new_grant(customer_id=customer_id, effective_time=at(CLOCK_TIME), expire_time=expires)
        )
    # The wall clock's sweep: every customer but the excluded ones and those on clocks.
    swept = await credits.expire_due(WALL, exclude_customer_ids=["cus_excluded"])
    assert (swept.expired_grant_count, swept.transaction_count) == (1, 1)
    assert await credits.summary(WALLED, as_of=WALL) == {"USD": (0, 0)}
    assert await credits.summary("cus_excluded", as_of=WALL) == {"USD": (0, 1000)}
    assert await credits.summary(CLOCKED, as_of=WALL) == {"USD": (0, 1000)}
    # The clock's advance expires its customers' grants at the clock's time.
    advanced = CLOCK_TIME + timedelta(days=31)
    await set_time(clocks, credits, advanced)
    swept = await credits.expire_due(advanced, customer_ids=[CLOCKED])
    assert (swept.expired_grant_count, swept.transaction_count) == (1, 1)
    assert await credits.summary(CLOCKED) == {"USD": (0, 0)}


async def test_i18_setting_the_time_is_idempotent_and_never_goes_back(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    later = CLOCK_TIME + timedelta(days=10)
    assert await set_time(clocks, credits, later, CLOCKED, request_id="advance-1") == later
    assert await set_time(clocks, credits, later, CLOCKED, request_id="advance-1") == later  # replayed
    assert await set_time(clocks, credits, CLOCK_TIME, CLOCKED) == later  # earlier: kept later
    assert await set_time(clocks, credits, later, CLOCKED) == later  # attached again: no-op
    grant = await credits.create(new_grant(customer_id=CLOCKED, effective_time=None))
    assert grant.effective_time == at(later)
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # the request id is this request's only
        await set_time(clocks, credits, CLOCK_TIME, request_id="advance-1")
    assert reason(raised.value) == "REQUEST_ID_REUSED"


async def test_i18_a_customer_lives_on_one_clock(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED, clock_id="clock_a")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await set_time(clocks, credits, WALL - timedelta(days=1), "cus_new", CLOCKED, clock_id="clock_b")
    assert (raised.value.code(), reason(raised.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CUSTOMER_ON_OTHER_CLOCK",
    )
    assert error_metadata(raised.value) == {"customer_id": CLOCKED, "test_clock_id": "clock_a"}
    # Nothing of the refused call stuck: cus_new is on no clock, clock_a kept its time.
    assert (await credits.create(new_grant(customer_id="cus_new", effective_time=None))).effective_time == at(
        WALL
    )
    assert (await credits.create(new_grant(customer_id=CLOCKED, effective_time=None))).effective_time == at(
        CLOCK_TIME
    )


async def test_i18_a_deleted_clocks_customers_return_to_the_wall_clock(
    credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub
) -> None:
    await set_time(clocks, credits, CLOCK_TIME, CLOCKED)
    for request_id in ("delete-1", "delete-1", ""):  # replayed, then repeated: no error
        await clocks.DeleteTestClockTime(
            clock_pb.DeleteTestClockTimeRequest(test_clock_id=CLOCK, request_id=request_id),
            metadata=credits.service,
        )
    await clocks.DeleteTestClockTime(
        clock_pb.DeleteTestClockTimeRequest(test_clock_id="clock_unknown"), metadata=credits.service
    )
    assert (await credits.create(new_grant(customer_id=CLOCKED, effective_time=None))).effective_time == at(
        WALL
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.READ])
async def test_x9_only_service_keys_tell_credits_about_clocks(
    suite: Suite, credits: CreditsClient, clocks: clock_grpc.TestClockTimeServiceStub, role: Role
) -> None:
    key = bearer(suite.key(role))
    set_request = clock_pb.SetTestClockTimeRequest(
        test_clock_id=CLOCK, frozen_time=at(CLOCK_TIME), customer_ids=[CLOCKED]
    )
    for call in (
        clocks.SetTestClockTime(set_request, metadata=key),
        clocks.DeleteTestClockTime(clock_pb.DeleteTestClockTimeRequest(test_clock_id=CLOCK), metadata=key),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await credits.create(new_grant(customer_id=CLOCKED, effective_time=None))).effective_time == at(
        WALL
    )


@pytest.mark.parametrize(
    ("request_fields", "field", "expected_reason"),
    [
        ({"frozen_time": at(CLOCK_TIME)}, "test_clock_id", "INVALID_ARGUMENT"),
        ({"test_clock_id": CLOCK}, "frozen_time", "INVALID_ARGUMENT"),
        (
            {
                "test_clock_id": CLOCK,
                "frozen_time": at(CLOCK_TIME),
                "customer_ids": [f"c{n}" for n in range(1001)],
            },
            "customer_ids",
            "INVALID_ARGUMENT",
        ),
        (
            {"test_clock_id": "k" * 256, "frozen_time": at(CLOCK_TIME)},
            "test_clock_id",
            "STRING_TOO_LONG",
        ),
        (
            {"test_clock_id": CLOCK, "frozen_time": at(CLOCK_TIME), "customer_ids": ["cus_\x00"]},
            "customer_ids[0]",
            "INVALID_CHARACTER",
        ),
    ],
)
async def test_i18_bad_clock_requests_name_the_field(
    credits: CreditsClient,
    clocks: clock_grpc.TestClockTimeServiceStub,
    request_fields: dict,
    field: str,
    expected_reason: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await clocks.SetTestClockTime(
            clock_pb.SetTestClockTimeRequest(**request_fields), metadata=credits.service
        )
    assert (raised.value.code(), reason(raised.value)) == (grpc.StatusCode.INVALID_ARGUMENT, expected_reason)
    assert violated_fields(raised.value) == [field]
