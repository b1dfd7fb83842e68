"""The limits every server applies before a handler runs, through real servers: keys are
checked before a request is decoded, strings are bounded as the contracts declare and
never hold NUL, requests are bounded in size per RPC, errors echo little of a bad value,
and a connection's streams are limited (X-5, X-7, X-8)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown.auth import store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2, credit_grant_service_pb2_grpc
from drawdown.invoicing.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from drawdown.rpc import server as rpc_server
from tests.support import probe_service
from tests.support.harness import Suite, bearer, start_one

LIST_METERS = "/drawdown.metering.v1.MeterService/ListMeters"


def refusal(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    """The code, ErrorInfo reason and violated fields of a refused call."""
    reason, fields = "", []
    for detail in rpc_status.from_call(error).details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return error.code(), reason, fields


async def test_a_call_without_a_key_is_refused_before_its_body_is_decoded(running_suite: Suite) -> None:
    # Bytes that are no ListMetersRequest: decoding them would fail. A refusal that never
    # decodes the body answers UNAUTHENTICATED, as it does for a large valid body.
    garbage = running_suite.channel("metering").unary_unary(
        LIST_METERS, request_serializer=bytes, response_deserializer=bytes
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await garbage(b"\xff\xff\xff\xff")
    assert refusal(raised.value)[:2] == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
    read_key = bearer(running_suite.key(Role.INGEST))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await garbage(b"\xff\xff\xff\xff", metadata=read_key)
    assert refusal(raised.value)[:2] == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")


async def test_bytes_that_are_no_request_message_are_invalid_argument(running_suite: Suite) -> None:
    get_meter = running_suite.channel("metering").unary_unary(
        "/drawdown.metering.v1.MeterService/GetMeter", request_serializer=bytes, response_deserializer=bytes
    )
    not_utf8 = b"\x0a\x02\xff\xfe"  # field 1, meter_id, holding two bytes that are not UTF-8
    for body in (not_utf8, b"\xff\xff\xff\xff"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await get_meter(body, metadata=bearer(running_suite.admin_key))
        assert refusal(raised.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST_ENCODING")


async def test_nul_in_any_string_is_invalid_character(running_suite: Suite) -> None:
    customers = customer_service_pb2_grpc.CustomerServiceStub(running_suite.channel("invoicing"))
    admin = bearer(running_suite.admin_key)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(customer=customer_pb2.Customer(name="Jenny\x00Rosen")),
            metadata=admin,
        )
    assert refusal(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHARACTER", ["customer.name"])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(name="Jenny", metadata={"plan": "pro\x00"})
            ),
            metadata=admin,
        )
    assert refusal(raised.value) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CHARACTER",
        ["customer.metadata"],
    )
    listed = await customers.ListCustomers(customer_service_pb2.ListCustomersRequest(), metadata=admin)
    assert list(listed.customers) == []


async def test_strings_longer_than_their_declared_limit_are_refused(running_suite: Suite) -> None:
    grants = credit_grant_service_pb2_grpc.CreditGrantServiceStub(running_suite.channel("credits"))
    admin = bearer(running_suite.admin_key)
    long_customer = credit_grant_pb2.CreditGrant(customer_id="c" * 2_700, name="credits")
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # no default limit: 255 characters
        await grants.CreateCreditGrant(
            credit_grant_service_pb2.CreateCreditGrantRequest(credit_grant=long_customer), metadata=admin
        )
    assert refusal(raised.value) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "STRING_TOO_LONG",
        ["credit_grant.customer_id"],
    )
    long_name = credit_grant_pb2.CreditGrant(customer_id="cus_1", name="n" * 5_000)
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # a declared limit and reason: 100, NAME_TOO_LONG
        await grants.CreateCreditGrant(
            credit_grant_service_pb2.CreateCreditGrantRequest(credit_grant=long_name), metadata=admin
        )
    assert refusal(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "NAME_TOO_LONG", ["credit_grant.name"])
    customers = customer_service_pb2_grpc.CustomerServiceStub(running_suite.channel("invoicing"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(name="Jenny"), request_id="r" * 256
            ),
            metadata=admin,
        )
    assert refusal(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_TOO_LONG", ["request_id"])


async def test_an_error_echoes_at_most_200_characters_of_a_bad_value(running_suite: Suite) -> None:
    meters = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await meters.GetMeter(
            meter_service_pb2.GetMeterRequest(meter_id="m" * 5_000), metadata=bearer(running_suite.admin_key)
        )
    assert refusal(raised.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "STRING_TOO_LONG")
    status = rpc_status.from_call(raised.value)
    assert "m" * 201 not in status.SerializeToString().decode("latin-1")


async def test_a_request_over_its_rpcs_size_limit_is_resource_exhausted(running_suite: Suite) -> None:
    customers = customer_service_pb2_grpc.CustomerServiceStub(running_suite.channel("invoicing"))
    metadata = {f"key{i}": "v" * 500 for i in range(10_000)}  # about 5 MB, over the 4 MiB default
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(name="J", metadata=metadata)
            ),
            metadata=bearer(running_suite.admin_key),
        )
    assert refusal(raised.value)[:2] == (grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE")


async def test_a_connection_has_a_bounded_number_of_streams(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 5
    options = [(k, v) for k, v in rpc_server.SERVER_OPTIONS if k != "grpc.max_concurrent_streams"]
    monkeypatch.setattr(rpc_server, "SERVER_OPTIONS", [*options, ("grpc.max_concurrent_streams", limit)])
    probe_service.HELD.clear()
    probe_service.RELEASE.clear()
    key = bearer(store.create_key(database_url, Role.ADMIN, "probe").token)
    async with start_one(probe_service.DEFINITION, database_url) as server:
        async with (
            grpc.aio.insecure_channel(server.address) as channel,
            grpc.aio.insecure_channel(
                server.address, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as other,
        ):
            fail = f"/{probe_service.SERVICE}/Fail"
            with pytest.raises(grpc.aio.AioRpcError):  # the connection is up and has the settings
                await channel.unary_unary(fail)(b"", metadata=key)
            hold = channel.unary_unary(f"/{probe_service.SERVICE}/Hold")
            calls = [asyncio.ensure_future(hold(b"", metadata=key, timeout=30)) for _ in range(2 * limit)]
            async with asyncio.timeout(10):
                while len(probe_service.HELD) < limit:
                    await asyncio.sleep(0.01)
            # A call on another connection is served while the extra calls still wait.
            with pytest.raises(grpc.aio.AioRpcError):
                await other.unary_unary(fail)(b"", metadata=key)
            assert len(probe_service.HELD) == limit
            probe_service.RELEASE.set()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
    # Past the limit a stream waits for a free one or is refused before any handler runs
    # (HTTP/2 REFUSED_STREAM, which clients may retry): never served beyond it.
    served = [o for o in outcomes if o == b"released"]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(served) + len(refused) == 2 * limit
    assert {error.code() for error in refused} <= {grpc.StatusCode.UNAVAILABLE}
    assert len(probe_service.HELD) == len(served) >= limit
