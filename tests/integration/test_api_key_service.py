"""ApiKeyService through real servers (O-3): keys created, listed, revoked and rotated
through one service work, or stop working, on the others."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown.auth.roles import Role
from drawdown.auth.v1 import api_key_pb2 as key_pb
from drawdown.auth.v1 import api_key_service_pb2 as pb
from drawdown.auth.v1 import api_key_service_pb2_grpc
from drawdown.clock import FrozenClock
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.support.harness import Suite, bearer, start_suite

T0 = datetime(2031, 3, 14, 9, 0, tzinfo=UTC)
REVOCATION_BOUND_SECONDS = 5.0


@pytest.fixture
async def frozen_suite(database_url: str):
    """The three services on a clock frozen at T0."""
    async with start_suite(database_url, clock=FrozenClock(T0)) as started:
        yield started


def keys_of(suite: Suite, service: str) -> api_key_service_pb2_grpc.ApiKeyServiceStub:
    return api_key_service_pb2_grpc.ApiKeyServiceStub(suite.channel(service))


def reason(error: grpc.aio.AioRpcError) -> str:
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(info)
    return info.reason


async def list_meters(suite: Suite, token: str) -> None:
    stub = meter_grpc.MeterServiceStub(suite.channel("metering"))
    await stub.ListMeters(meter_pb.ListMetersRequest(), metadata=bearer(token))


async def list_grants(suite: Suite, token: str) -> None:
    stub = grant_grpc.CreditGrantServiceStub(suite.channel("credits"))
    await stub.ListCreditGrants(grant_pb.ListCreditGrantsRequest(customer_id="cus_x"), metadata=bearer(token))


async def refusal(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def create(suite: Suite, service: str = "metering", **fields) -> pb.CreateApiKeyResponse:
    request = pb.CreateApiKeyRequest(role=key_pb.API_KEY_ROLE_READ, label="dashboards", **fields)
    return await keys_of(suite, service).CreateApiKey(request, metadata=bearer(suite.admin_key))


async def test_a_key_created_through_one_service_works_on_the_others_and_lists_without_its_token(
    running_suite: Suite,
) -> None:
    created = await create(running_suite, "invoicing")
    assert created.token.startswith("dd_") and created.api_key.role == key_pb.API_KEY_ROLE_READ
    await list_meters(running_suite, created.token)
    await list_grants(running_suite, created.token)

    listed = await keys_of(running_suite, "credits").ListApiKeys(
        pb.ListApiKeysRequest(), metadata=bearer(running_suite.admin_key)
    )
    mine = next(key for key in listed.api_keys if key.id == created.api_key.id)
    assert (mine.label, mine.role, mine.HasField("revoke_time")) == (
        "dashboards",
        key_pb.API_KEY_ROLE_READ,
        False,
    )
    assert mine.HasField("last_use_time")
    assert created.token not in str(listed)


async def test_a_revoked_key_is_refused_by_every_other_service_within_5_seconds(running_suite: Suite) -> None:
    created = await create(running_suite)
    await list_grants(running_suite, created.token)  # credits now trusts the key

    revoked = await keys_of(running_suite, "metering").RevokeApiKey(
        pb.RevokeApiKeyRequest(id=created.api_key.id), metadata=bearer(running_suite.admin_key)
    )
    revoked_at = time.monotonic()
    assert revoked.api_key.HasField("revoke_time")
    async with asyncio.timeout(REVOCATION_BOUND_SECONDS + 0.5):
        while True:
            try:
                await list_grants(running_suite, created.token)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED and reason(error) == "API_KEY_INVALID"
                break
            await asyncio.sleep(0.05)
    assert time.monotonic() - revoked_at <= REVOCATION_BOUND_SECONDS + 0.5


async def test_revoking_a_revoked_key_returns_it_unchanged(running_suite: Suite) -> None:
    created = await create(running_suite)
    stub, admin = keys_of(running_suite, "credits"), bearer(running_suite.admin_key)
    first = await stub.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.api_key.id), metadata=admin)
    again = await stub.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.api_key.id), metadata=admin)
    assert again.api_key.revoke_time == first.api_key.revoke_time
    missing = await refusal(stub.RevokeApiKey(pb.RevokeApiKeyRequest(id="key_missing"), metadata=admin))
    assert (missing.code(), reason(missing)) == (grpc.StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND")


async def test_an_expiring_key_works_until_its_expire_time_then_is_refused(frozen_suite: Suite) -> None:
    created = await create(frozen_suite, expire_time=timestamp_to_proto(T0 + timedelta(minutes=15)))
    await list_meters(frozen_suite, created.token)

    assert isinstance(frozen_suite.clock, FrozenClock)
    frozen_suite.clock.advance(timedelta(minutes=15))
    for call in (list_meters(frozen_suite, created.token), list_grants(frozen_suite, created.token)):
        error = await refusal(call)
        assert (error.code(), reason(error)) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_EXPIRED")


async def test_a_key_cannot_be_created_already_expired(frozen_suite: Suite) -> None:
    error = await refusal(create(frozen_suite, expire_time=timestamp_to_proto(T0)))
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "EXPIRE_TIME_NOT_IN_FUTURE")


async def test_rotation_keeps_role_and_label_and_the_old_key_works_for_the_overlap(
    frozen_suite: Suite,
) -> None:
    old = await create(frozen_suite)
    rotated = await keys_of(frozen_suite, "invoicing").RotateApiKey(
        pb.RotateApiKeyRequest(id=old.api_key.id, overlap=duration_pb2.Duration(seconds=3600)),
        metadata=bearer(frozen_suite.admin_key),
    )
    assert (rotated.api_key.role, rotated.api_key.label) == (old.api_key.role, old.api_key.label)
    assert rotated.rotated_api_key.expire_time == timestamp_to_proto(T0 + timedelta(hours=1))
    await list_meters(frozen_suite, old.token)
    await list_meters(frozen_suite, rotated.token)

    assert isinstance(frozen_suite.clock, FrozenClock)
    frozen_suite.clock.advance(timedelta(hours=1))
    error = await refusal(list_grants(frozen_suite, old.token))
    assert reason(error) == "API_KEY_EXPIRED"
    await list_grants(frozen_suite, rotated.token)


async def test_rotation_without_overlap_ends_the_old_key_at_once_and_only_a_working_key_rotates(
    frozen_suite: Suite,
) -> None:
    old = await create(frozen_suite)
    stub, admin = keys_of(frozen_suite, "metering"), bearer(frozen_suite.admin_key)
    rotated = await stub.RotateApiKey(pb.RotateApiKeyRequest(id=old.api_key.id), metadata=admin)
    assert rotated.rotated_api_key.expire_time == timestamp_to_proto(T0)
    error = await refusal(list_meters(frozen_suite, old.token))
    assert reason(error) == "API_KEY_EXPIRED"

    again = await refusal(stub.RotateApiKey(pb.RotateApiKeyRequest(id=old.api_key.id), metadata=admin))
    assert (again.code(), reason(again)) == (grpc.StatusCode.FAILED_PRECONDITION, "API_KEY_EXPIRED")
    await stub.RevokeApiKey(pb.RevokeApiKeyRequest(id=rotated.api_key.id), metadata=admin)
    revoked = await refusal(stub.RotateApiKey(pb.RotateApiKeyRequest(id=rotated.api_key.id), metadata=admin))
    assert (revoked.code(), reason(revoked)) == (grpc.StatusCode.FAILED_PRECONDITION, "API_KEY_REVOKED")


async def test_a_retried_create_returns_the_same_key_without_its_token(running_suite: Suite) -> None:
    first = await create(running_suite, request_id="create-dashboards-key")
    retry = await create(running_suite, "credits", request_id="create-dashboards-key")
    assert retry.api_key == first.api_key and first.token and not retry.token
    reused = await refusal(
        keys_of(running_suite, "metering").CreateApiKey(
            pb.CreateApiKeyRequest(role=key_pb.API_KEY_ROLE_ADMIN, request_id="create-dashboards-key"),
            metadata=bearer(running_suite.admin_key),
        )
    )
    assert (reused.code(), reason(reused)) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_keys_list_newest_first_in_pages(running_suite: Suite) -> None:
    created = [(await create(running_suite)).api_key.id for _ in range(3)]
    stub, admin = keys_of(running_suite, "invoicing"), bearer(running_suite.admin_key)
    seen: list[str] = []
    request = pb.ListApiKeysRequest(page_size=2)
    while True:
        page = await stub.ListApiKeys(request, metadata=admin)
        assert len(page.api_keys) <= 2
        seen.extend(key.id for key in page.api_keys)
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert seen[:3] == created[::-1]
    assert len(seen) == len(set(seen)) == 5  # and the suite's admin and service keys


@pytest.mark.parametrize("role", [Role.READ, Role.INGEST, Role.SERVICE])
async def test_only_admin_keys_manage_keys(running_suite: Suite, role: Role) -> None:
    error = await refusal(
        keys_of(running_suite, "metering").ListApiKeys(
            pb.ListApiKeysRequest(), metadata=bearer(running_suite.key(role))
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")


async def test_a_key_needs_a_role(running_suite: Suite) -> None:
    error = await refusal(
        keys_of(running_suite, "metering").CreateApiKey(
            pb.CreateApiKeyRequest(), metadata=bearer(running_suite.admin_key)
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
