"""Every RPC over HTTP/1.1 with JSON, by the Connect protocol, through real servers (O-5):
the same keys, the same errors (as Connect error objects with their google.rpc details),
the same limits, and an OpenAPI document of every RPC."""

from __future__ import annotations

import base64
import json
import struct

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drawdown.auth.roles import Role
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from drawdown.rpc.gateway import JSON_EXPANSION, rpcs_of
from drawdown.rpc.limits import DEFAULT_MAX_REQUEST_BYTES
from tests.support.harness import Suite, bearer

METER = {
    "meter": {
        "displayName": "Input tokens",
        "eventName": "input_tokens",
        "aggregationFormula": "AGGREGATION_FORMULA_SUM",
    }
}


@pytest.fixture
async def http(running_suite: Suite) -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def url(suite: Suite, service: str, path: str) -> str:
    return f"http://{suite.servers[service].http_address}{path}"


async def call(
    client: httpx.AsyncClient, suite: Suite, service: str, rpc: str, body: object, key: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await client.post(url(suite, service, f"/{rpc}"), json=body, headers=headers)


def error_info(reply: httpx.Response) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo of a Connect error, decoded from its base64 value (not its debug JSON)."""
    detail = next(d for d in reply.json()["details"] if d["type"] == "google.rpc.ErrorInfo")
    value = detail["value"] + "=" * (-len(detail["value"]) % 4)
    return error_details_pb2.ErrorInfo.FromString(base64.b64decode(value))


async def test_a_json_call_creates_what_grpc_then_reads(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    reply = await call(
        http,
        running_suite,
        "metering",
        "drawdown.metering.v1.MeterService/CreateMeter",
        METER,
        running_suite.admin_key,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    meter = reply.json()["meter"]
    assert (meter["displayName"], meter["eventName"]) == ("Input tokens", "input_tokens")
    stub = meter_service_pb2_grpc.MeterServiceStub(running_suite.channel("metering"))
    read = await stub.GetMeter(
        meter_service_pb2.GetMeterRequest(meter_id=meter["id"]), metadata=bearer(running_suite.admin_key)
    )
    assert read.meter.display_name == "Input tokens"


async def test_proto_field_names_are_accepted_and_defaults_are_written(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    body = {
        "meter": {
            "display_name": "Output tokens",
            "event_name": "output_tokens",
            "aggregation_formula": "AGGREGATION_FORMULA_SUM",
        }
    }
    created = await call(
        http,
        running_suite,
        "metering",
        "drawdown.metering.v1.MeterService/CreateMeter",
        body,
        running_suite.admin_key,
    )
    assert created.status_code == 200, created.text
    listed = await call(
        http,
        running_suite,
        "metering",
        "drawdown.metering.v1.MeterService/ListMeters",
        {},
        running_suite.admin_key,
    )
    assert listed.json()["nextPageToken"] == ""  # a default, written rather than left out
    assert [m["eventName"] for m in listed.json()["meters"]] == ["output_tokens"]


async def test_no_key_is_unauthenticated_with_its_reason(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    reply = await call(
        http, running_suite, "metering", "drawdown.metering.v1.MeterService/ListMeters", {}, None
    )
    assert reply.status_code == 401
    assert reply.json()["code"] == "unauthenticated"
    assert error_info(reply).reason == "API_KEY_MISSING"
    debug = reply.json()["details"][0]["debug"]
    assert debug["reason"] == "API_KEY_MISSING"


async def test_an_unknown_key_and_a_role_without_the_permission_are_refused(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    unknown = await call(
        http, running_suite, "metering", "drawdown.metering.v1.MeterService/ListMeters", {}, "dd_nope"
    )
    assert (unknown.status_code, unknown.json()["code"]) == (401, "unauthenticated")
    assert error_info(unknown).reason == "API_KEY_INVALID"
    ingest = running_suite.key(Role.INGEST)
    denied = await call(
        http, running_suite, "metering", "drawdown.metering.v1.MeterService/CreateMeter", METER, ingest
    )
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied")
    assert error_info(denied).reason == "PERMISSION_DENIED"


async def test_a_bad_argument_names_its_field(running_suite: Suite, http: httpx.AsyncClient) -> None:
    body = {"meter": {"displayName": "No event name", "aggregationFormula": "AGGREGATION_FORMULA_SUM"}}
    reply = await call(
        http,
        running_suite,
        "metering",
        "drawdown.metering.v1.MeterService/CreateMeter",
        body,
        running_suite.admin_key,
    )
    assert (reply.status_code, reply.json()["code"]) == (400, "invalid_argument")
    violations = next(d for d in reply.json()["details"] if d["type"] == "google.rpc.BadRequest")
    assert "meter.event_name" in {v["field"] for v in violations["debug"]["fieldViolations"]}


async def test_a_missing_resource_is_not_found(running_suite: Suite, http: httpx.AsyncClient) -> None:
    reply = await call(
        http,
        running_suite,
        "metering",
        "drawdown.metering.v1.MeterService/GetMeter",
        {"meterId": "mtr_missing"},
        running_suite.admin_key,
    )
    assert (reply.status_code, reply.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"meter": {"displayName": 5}}',
        b'{"noSuchField": 1}',
        b'{"pageSize": "ten"}',
        b'{"pageSize": 99999999999}',
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe",
        b'"a string"',
    ],
    ids=[
        "syntax",
        "wrong-type",
        "unknown-field",
        "not-a-number",
        "int32-overflow",
        "deep",
        "not-utf8",
        "not-an-object",
    ],
)
async def test_malformed_json_is_an_invalid_argument_never_internal(
    running_suite: Suite, http: httpx.AsyncClient, body: bytes
) -> None:
    reply = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters"),
        content=body,
        headers={"Authorization": f"Bearer {running_suite.admin_key}", "Content-Type": "application/json"},
    )
    assert (reply.status_code, reply.json()["code"]) == (400, "invalid_argument"), reply.text
    assert error_info(reply).reason == "INVALID_REQUEST_ENCODING"


async def test_a_body_over_the_limit_is_refused_unread(running_suite: Suite, http: httpx.AsyncClient) -> None:
    limit = DEFAULT_MAX_REQUEST_BYTES * JSON_EXPANSION
    headers = {"Authorization": f"Bearer {running_suite.admin_key}", "Content-Type": "application/json"}

    async def endless():  # a chunked body with no declared length: read only up to the limit
        chunk = b" " * 65536
        for _ in range(limit // len(chunk) + 2):
            yield chunk

    target = url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters")
    reply = await http.post(target, content=endless(), headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (429, "resource_exhausted")
    assert error_info(reply).reason == "REQUEST_TOO_LARGE"
    assert error_info(reply).metadata["limit_bytes"] == str(limit)


async def test_a_large_body_without_a_key_is_refused_before_it_is_read(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    target = url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters")
    # Over the limit: were it read first, it would be REQUEST_TOO_LARGE; the key is checked first.
    oversized = b" " * (DEFAULT_MAX_REQUEST_BYTES * JSON_EXPANSION + 1)
    reply = await http.post(target, content=oversized, headers={"Content-Type": "application/json"})
    assert reply.status_code == 401
    assert error_info(reply).reason == "API_KEY_MISSING"


async def test_the_protocol_errors_are_connect_errors(running_suite: Suite, http: httpx.AsyncClient) -> None:
    key = {"Authorization": f"Bearer {running_suite.admin_key}"}
    unknown = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/Nope"), json={}, headers=key
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unimplemented")
    got = await http.get(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters"), headers=key
    )
    assert (got.status_code, got.headers["allow"]) == (405, "POST")
    form = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters"),
        content=b"a=1",
        headers={**key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (form.status_code, form.json()["code"]) == (415, "invalid_argument")
    timeout = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters"),
        json={},
        headers={**key, "Connect-Timeout-Ms": "soon"},
    )
    assert (timeout.status_code, timeout.json()["code"]) == (400, "invalid_argument")
    both_ways = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterEventService/StreamMeterEvents"),
        json={},
        headers=key,
    )
    assert (both_ways.status_code, both_ways.json()["code"]) == (501, "unimplemented")


async def test_binary_protobuf_bodies_are_served_too(running_suite: Suite, http: httpx.AsyncClient) -> None:
    reply = await http.post(
        url(running_suite, "metering", "/drawdown.metering.v1.MeterService/ListMeters"),
        content=meter_service_pb2.ListMetersRequest(page_size=5).SerializeToString(),
        headers={"Authorization": f"Bearer {running_suite.admin_key}", "Content-Type": "application/proto"},
    )
    assert reply.status_code == 200
    assert meter_service_pb2.ListMetersResponse.FromString(reply.content).meters == []


def envelope(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


async def read_envelope(stream) -> tuple[int, dict]:
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        if len(buffer) >= 5 and len(buffer) >= 5 + struct.unpack(">I", buffer[1:5])[0]:
            break
    flags, length = struct.unpack(">BI", buffer[:5])
    return flags, json.loads(buffer[5 : 5 + length])


async def test_server_streams_use_connect_envelopes(running_suite: Suite, http: httpx.AsyncClient) -> None:
    key = running_suite.admin_key
    for name in ("first", "second"):
        body = {"meter": {**METER["meter"], "eventName": name}}
        created = await call(
            http, running_suite, "metering", "drawdown.metering.v1.MeterService/CreateMeter", body, key
        )
        assert created.status_code == 200
    listed = await call(
        http, running_suite, "metering", "drawdown.metering.v1.EventService/ListEvents", {}, key
    )
    first, second = listed.json()["events"]
    request = envelope(0, json.dumps({"afterCursor": first["cursor"]}).encode())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/connect+json"}
    target = url(running_suite, "metering", "/drawdown.metering.v1.EventService/StreamEvents")
    async with http.stream("POST", target, content=request, headers=headers) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/connect+json"
        flags, streamed = await read_envelope(reply.aiter_raw())
    assert flags == 0
    assert streamed["event"]["id"] == second["id"]

    unsigned = {"Content-Type": "application/connect+json"}
    async with http.stream("POST", target, content=request, headers=unsigned) as refused:
        assert refused.status_code == 200  # a Connect stream carries its error at its end
        flags, end = await read_envelope(refused.aiter_raw())
    assert flags == 2
    assert end["error"]["code"] == "unauthenticated"


async def test_the_openapi_document_lists_every_rpc_with_its_messages(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    pool = descriptor_pool.Default()
    for service, server in running_suite.servers.items():
        document = (await http.get(f"http://{server.http_address}/openapi.json")).json()
        assert document["openapi"].startswith("3.1")
        listed = [s.name for s in await _reflected_services(running_suite, service)]
        served = [name for name in listed if not name.startswith("grpc.reflection.")]
        rpcs = rpcs_of(served)
        assert set(document["paths"]) == set(rpcs)
        schemas = document["components"]["schemas"]
        for path, rpc in rpcs.items():
            operation = document["paths"][path]["post"]
            if rpc.descriptor.client_streaming:
                continue
            request_content = next(iter(operation["requestBody"]["content"].values()))
            response_content = next(iter(operation["responses"]["200"]["content"].values()))
            for content, message in (
                (request_content, rpc.descriptor.input_type),
                (response_content, rpc.descriptor.output_type),
            ):
                _assert_schema_is_the_message(
                    schemas, content["schema"], pool.FindMessageTypeByName(message.full_name)
                )


def _assert_schema_is_the_message(schemas: dict, schema: dict, message, seen: set | None = None) -> None:
    """The schema names every field of ``message`` by its JSON name, and so down its message fields."""
    seen = set() if seen is None else seen
    if message.full_name in seen or message.full_name.startswith("google.protobuf."):
        return
    seen.add(message.full_name)
    ref = schema["$ref"].rsplit("/", 1)[1]
    assert ref == message.full_name
    properties = schemas[ref]["properties"]
    assert set(properties) == {field.json_name for field in message.fields}
    for field in message.fields:
        prop = properties[field.json_name]
        if field.is_repeated and not (field.message_type and field.message_type.GetOptions().map_entry):
            prop = prop["items"]
        if field.enum_type is not None:
            enum = schemas[prop["$ref"].rsplit("/", 1)[1]]
            assert enum["enum"] == [value.name for value in field.enum_type.values]
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            _assert_schema_is_the_message(schemas, prop, field.message_type, seen)
        elif field.type == field.TYPE_STRING:
            assert prop["type"] == "string" and prop["maxLength"] > 0


async def _reflected_services(suite: Suite, service: str):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(suite.channel(service))
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    return [s async for reply in replies for s in reply.list_services_response.service]


async def test_http_is_not_served_when_disabled(database_url: str) -> None:
    from drawdown import suite as drawdown_suite
    from tests.support.harness import start_one

    async with start_one(drawdown_suite.definition("metering"), database_url, http_enabled=False) as running:
        assert running.http_address is None
        async with grpc.aio.insecure_channel(running.address) as channel:  # gRPC alone
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_with_tls_the_http_port_serves_https_and_mtls_requires_a_client_certificate(
    database_url: str, tmp_path
) -> None:
    import ssl

    from tests.support import probe_service
    from tests.support.certificates import certificate
    from tests.support.harness import start_one

    ca = certificate(tmp_path, "ca")
    key, cert = certificate(tmp_path, "server", ca=ca)
    client_key, client_cert = certificate(tmp_path, "client", ca=ca)
    settings = {"tls_cert_file": cert, "tls_key_file": key, "tls_client_ca_file": ca[1]}
    async with start_one(probe_service.DEFINITION, database_url, **settings) as server:
        target = f"https://localhost:{server.http.port}/grpc.health.v1.Health/Check"
        trusted = ssl.create_default_context(cafile=str(ca[1]))
        with_certificate = ssl.create_default_context(cafile=str(ca[1]))
        with_certificate.load_cert_chain(client_cert, client_key)
        async with httpx.AsyncClient(verify=with_certificate, timeout=10) as client:
            reply = await client.post(target, json={})
        assert (reply.status_code, reply.json()) == (200, {"status": "SERVING"})
        async with httpx.AsyncClient(verify=trusted, timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.post(target, json={})
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.post(f"http://localhost:{server.http.port}/grpc.health.v1.Health/Check", json={})


async def test_a_retry_with_the_same_request_id_returns_the_first_result(
    running_suite: Suite, http: httpx.AsyncClient
) -> None:
    body = {**METER, "requestId": "req-http-1"}
    rpc = "drawdown.metering.v1.MeterService/CreateMeter"
    first = await call(http, running_suite, "metering", rpc, body, running_suite.admin_key)
    again = await call(http, running_suite, "metering", rpc, body, running_suite.admin_key)
    assert first.status_code == again.status_code == 200
    assert again.json()["meter"]["id"] == first.json()["meter"]["id"]
    other = {**METER, "requestId": "req-http-1", "meter": {**METER["meter"], "eventName": "other"}}
    reused = await call(http, running_suite, "metering", rpc, other, running_suite.admin_key)
    assert (reused.status_code, reused.json()["code"]) == (409, "already_exists")
    assert error_info(reused).reason == "REQUEST_ID_REUSED"
