"""Webhook endpoints and deliveries (E-4, E-5) against real servers and a real HTTP
receiver on loopback: events of invoicing and of its peers reach an endpoint signed, a
failing receiver is retried with growing delays (the suite's clock moved, never slept
on), an endpoint failing for 3 days is disabled with an event, and a receiver in Node
verifies the signature."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from drawdown.events.signature import HEADER, InvalidSignature, verify
from drawdown.invoicing.v1 import customer_pb2, customer_service_pb2, webhook_endpoint_pb2
from drawdown.invoicing.v1 import event_service_pb2 as invoicing_events_pb
from drawdown.invoicing.v1 import event_service_pb2_grpc as invoicing_events_grpc
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2 as pb
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2_grpc as webhooks_grpc
from invoicing_service.domain.webhooks import RETRY_PERIOD
from tests.integration.invoicing.invoicing_builders import Invoicing, customer, invoicing_on_real_peers
from tests.support.webhook_receiver import Received, receiving

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "node"


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


def webhooks(invoicing: Invoicing) -> webhooks_grpc.WebhookEndpointServiceStub:
    return webhooks_grpc.WebhookEndpointServiceStub(invoicing.suite.channel("invoicing"))


async def create_endpoint(
    invoicing: Invoicing, url: str, *event_types: str
) -> webhook_endpoint_pb2.WebhookEndpoint:
    reply = await webhooks(invoicing).CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_endpoint_pb2.WebhookEndpoint(url=url, event_types=list(event_types))
        ),
        metadata=invoicing.metadata,
    )
    return reply.webhook_endpoint


async def deliveries(invoicing: Invoicing, endpoint_id: str) -> list[webhook_endpoint_pb2.WebhookDelivery]:
    reply = await webhooks(invoicing).ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(webhook_endpoint_id=endpoint_id, page_size=100),
        metadata=invoicing.metadata,
    )
    return list(reply.webhook_deliveries)


def event_of(received: Received, secret: str) -> dict:
    return json.loads(verify(received.body, received.headers.get(HEADER), secret))


def at(timestamp) -> datetime:
    return timestamp.ToDatetime(tzinfo=UTC)


async def test_endpoints_are_created_with_a_secret_shown_once_and_checked(invoicing: Invoicing) -> None:
    stub = webhooks(invoicing)
    created = await create_endpoint(invoicing, "https://billing.example.com/hooks", "invoice.finalized")
    assert created.id.startswith("we_") and created.secret.startswith("whsec_")
    assert created.status == webhook_endpoint_pb2.WEBHOOK_ENDPOINT_STATUS_ENABLED
    got = await stub.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=created.id), metadata=invoicing.metadata
    )
    assert got.webhook_endpoint.secret == "" and got.webhook_endpoint.url == created.url

    rolled = await stub.RollWebhookEndpointSecret(
        pb.RollWebhookEndpointSecretRequest(id=created.id), metadata=invoicing.metadata
    )
    assert rolled.webhook_endpoint.secret not in ("", created.secret)

    updated = await stub.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=webhook_endpoint_pb2.WebhookEndpoint(id=created.id, event_types=["*"]),
            update_mask=field_mask_pb2.FieldMask(paths=["event_types"]),
        ),
        metadata=invoicing.metadata,
    )
    assert list(updated.webhook_endpoint.event_types) == ["*"]

    for bad, reason in (
        (webhook_endpoint_pb2.WebhookEndpoint(url="ftp://x", event_types=["*"]), "INVALID_WEBHOOK_URL"),
        (
            webhook_endpoint_pb2.WebhookEndpoint(url="https://x.example", event_types=["invoice.eaten"]),
            "UNKNOWN_EVENT_TYPE",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateWebhookEndpoint(
                pb.CreateWebhookEndpointRequest(webhook_endpoint=bad), metadata=invoicing.metadata
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert reason in str(refused.value.trailing_metadata())

    listed = await stub.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest(), metadata=invoicing.metadata)
    assert [e.id for e in listed.webhook_endpoints] == [created.id]
    await stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(id=created.id), metadata=invoicing.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(id=created.id), metadata=invoicing.metadata
        )
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND


async def test_events_of_invoicing_and_of_metering_arrive_signed(invoicing: Invoicing) -> None:
    with receiving() as receiver:
        endpoint = await create_endpoint(invoicing, receiver.url, "customer.created", "meter.created")
        customer_id = await customer(invoicing)
        meter_id = await invoicing.meter()
        received = [await receiver.next() for _ in range(2)]
    events = {event["type"]: event for event in (event_of(r, endpoint.secret) for r in received)}
    assert events["customer.created"]["customer_id"] == customer_id
    assert events["customer.created"]["data"]["@type"] == "type.googleapis.com/drawdown.invoicing.v1.Customer"
    assert events["customer.created"]["data"]["id"] == customer_id
    assert events["meter.created"]["data"]["id"] == meter_id
    assert all(r.headers["Content-Type"] == "application/json" for r in received)

    tampered = received[0].body.replace(b"customer", b"kustomer", 1)
    with pytest.raises(InvalidSignature):
        verify(tampered, received[0].headers[HEADER], endpoint.secret)
    with pytest.raises(InvalidSignature):
        verify(received[0].body, received[0].headers[HEADER], "whsec_someone_else")

    [delivered] = [d for d in await deliveries(invoicing, endpoint.id) if d.event_type == "customer.created"]
    assert delivered.status == webhook_endpoint_pb2.WEBHOOK_DELIVERY_STATUS_DELIVERED
    assert [a.http_status for a in delivered.attempts] == [200]
    assert delivered.event_id == events["customer.created"]["id"]


async def test_a_failing_receiver_is_retried_with_growing_delays_until_it_answers(
    invoicing: Invoicing,
) -> None:
    with receiving(script=[500, 503]) as receiver:
        endpoint = await create_endpoint(invoicing, receiver.url, "customer.created")
        await customer(invoicing)
        answers = []
        for _ in range(3):
            request = await receiver.next()
            answers.append(request.answered)
            if request.answered != 200:
                [pending] = await _settled(invoicing, endpoint.id, attempts=len(answers))
                invoicing.clock.set(at(pending.next_attempt_time))
    assert answers == [500, 503, 200]
    [delivery] = await _settled(invoicing, endpoint.id, attempts=3)
    assert delivery.status == webhook_endpoint_pb2.WEBHOOK_DELIVERY_STATUS_DELIVERED
    times = [at(a.attempt_time) for a in delivery.attempts]
    assert [later - earlier for earlier, later in zip(times, times[1:], strict=False)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
    ]
    assert event_of(request, endpoint.secret)["id"] == delivery.event_id


async def test_an_endpoint_failing_for_three_days_is_disabled_with_an_event(invoicing: Invoicing) -> None:
    with receiving(script=[500] * 1000) as receiver:
        endpoint = await create_endpoint(invoicing, receiver.url, "customer.created")
        await customer(invoicing)
        started = invoicing.clock.now()
        attempts = 0
        while True:
            try:
                await receiver.next()
            except TimeoutError:
                [d] = await deliveries(invoicing, endpoint.id)
                print(
                    "STUCK",
                    attempts,
                    invoicing.clock.now(),
                    d.status,
                    [(a.attempt_time.seconds - 1767225600, a.http_status) for a in d.attempts],
                    d.next_attempt_time.seconds - 1767225600,
                )
                raise
            attempts += 1
            [delivery] = await _settled(invoicing, endpoint.id, attempts=attempts)
            if delivery.status != webhook_endpoint_pb2.WEBHOOK_DELIVERY_STATUS_PENDING:
                break
            invoicing.clock.set(at(delivery.next_attempt_time))
    assert delivery.status == webhook_endpoint_pb2.WEBHOOK_DELIVERY_STATUS_FAILED
    assert invoicing.clock.now() - started == RETRY_PERIOD  # the last attempt, when 3 days are over
    got = await webhooks(invoicing).GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=invoicing.metadata
    )
    assert got.webhook_endpoint.status == webhook_endpoint_pb2.WEBHOOK_ENDPOINT_STATUS_DISABLED
    assert got.webhook_endpoint.disabled_reason
    events = invoicing_events_grpc.EventServiceStub(invoicing.suite.channel("invoicing"))
    disabled = await events.ListEvents(
        invoicing_events_pb.ListEventsRequest(types=["webhook_endpoint.disabled"]),
        metadata=invoicing.metadata,
    )
    [event] = disabled.events
    data = webhook_endpoint_pb2.WebhookEndpoint()
    assert event.data.Unpack(data) and data.id == endpoint.id and data.secret == ""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
async def test_a_receiver_in_node_verifies_the_signature(invoicing: Invoicing) -> None:
    endpoint = await create_endpoint(invoicing, "http://127.0.0.1:9/not-yet", "customer.updated")
    node = await asyncio.create_subprocess_exec(
        "node",
        str(EXAMPLES / "webhook-receiver.mjs"),
        "--port",
        "0",
        env={**os.environ, "DRAWDOWN_WEBHOOK_SECRET": endpoint.secret},
        stdout=subprocess.PIPE,
    )
    try:
        assert node.stdout is not None
        port = json.loads(await asyncio.wait_for(node.stdout.readline(), 30))["listening"]
        await webhooks(invoicing).UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=webhook_endpoint_pb2.WebhookEndpoint(
                    id=endpoint.id, url=f"http://127.0.0.1:{port}/hooks"
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["url"]),
            ),
            metadata=invoicing.metadata,
        )
        customer_id = await customer(invoicing)
        await invoicing.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(id=customer_id, name="Jenny R."),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=invoicing.metadata,
        )
        line = json.loads(await asyncio.wait_for(node.stdout.readline(), 30))
    finally:
        node.kill()
        await node.wait()
    assert line["verified"] is True
    assert line["type"] == "customer.updated"
    [delivery] = await _settled(invoicing, endpoint.id, attempts=1)
    assert delivery.event_id == line["id"]


async def _settled(
    invoicing: Invoicing, endpoint_id: str, *, attempts: int
) -> list[webhook_endpoint_pb2.WebhookDelivery]:
    """The endpoint's deliveries once each has ``attempts`` attempts recorded. The receiver
    has answered before the dispatcher stores the answer, and nothing announces that
    store, so this reads until it is there (for at most 15 s)."""
    found: list[webhook_endpoint_pb2.WebhookDelivery] = []
    for _ in range(300):
        found = await deliveries(invoicing, endpoint_id)
        if found and all(len(d.attempts) == attempts for d in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries of {endpoint_id} did not settle: {found}")


async def test_replicas_share_the_deliveries_and_send_each_event_once(invoicing: Invoicing) -> None:
    await invoicing.add_replica()  # a second dispatcher on the same database
    with receiving() as receiver:
        endpoint = await create_endpoint(invoicing, receiver.url, "customer.created")
        created = {await customer(invoicing, name=f"customer {n}") for n in range(20)}
        received = [await receiver.next() for _ in range(20)]
    events = [event_of(r, endpoint.secret) for r in received]
    assert {event["customer_id"] for event in events} == created
    assert len({event["id"] for event in events}) == 20
    assert len(await _settled(invoicing, endpoint.id, attempts=1)) == 20  # one attempt each
