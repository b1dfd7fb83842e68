"""Events survive crashes (E-5): the three services as separate processes, each killed
with SIGKILL while changes are being made and restarted, the dispatcher killed while a
delivery is in flight, and PostgreSQL restarted under them. Every event any service
committed reaches the webhook receiver at least once, a repeat with the same event id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from google.type import money_pb2

from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_grant_pb2, credit_grant_service_pb2, credit_grant_service_pb2_grpc
from drawdown.credits.v1 import event_service_pb2 as credits_events
from drawdown.credits.v1 import event_service_pb2_grpc as credits_events_grpc
from drawdown.events.signature import HEADER, verify
from drawdown.invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    webhook_endpoint_pb2,
)
from drawdown.invoicing.v1 import event_service_pb2 as invoicing_events
from drawdown.invoicing.v1 import event_service_pb2_grpc as invoicing_events_grpc
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2 as webhooks_pb
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2_grpc as webhooks_grpc
from drawdown.logs import listening_address
from drawdown.metering.v1 import event_service_pb2 as metering_events
from drawdown.metering.v1 import event_service_pb2_grpc as metering_events_grpc
from drawdown.metering.v1 import meter_pb2, meter_service_pb2, meter_service_pb2_grpc
from tests.e2e.test_drawdown_up import ROOT, free_port
from tests.support.postgres import needs_restartable_postgres, restart_postgres
from tests.support.webhook_receiver import receiving

SERVICES = ("metering", "credits", "invoicing")
LEASE_SECONDS = 11


class Processes:
    """The three services, each a ``drawdown serve`` process of its own."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.ports = {service: free_port() for service in SERVICES}
        service_key = auth_store.create_key(database_url, Role.SERVICE, label="crash test").token
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
        self.env.update(
            DRAWDOWN_DATABASE_URL=database_url,
            DRAWDOWN_HOME=str(home),
            DRAWDOWN_SERVICE_API_KEY=service_key,
            DRAWDOWN_METERING_ADDRESS=f"127.0.0.1:{self.ports['metering']}",
            DRAWDOWN_CREDITS_ADDRESS=f"127.0.0.1:{self.ports['credits']}",
            DRAWDOWN_WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS),
            DRAWDOWN_LOG_FORMAT="json",
            **{f"DRAWDOWN_{s.upper()}_PORT": str(port) for s, port in self.ports.items()},
            **{f"DRAWDOWN_{s.upper()}_HTTP_PORT": str(free_port()) for s in self.ports},
        )
        self.running: dict[str, subprocess.Popen[str]] = {}
        self.logs: dict[str, list[str]] = {}

    def start(self, service: str) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "drawdown.cli", "serve", service],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        listening = threading.Event()

        def read_logs() -> None:  # all of them: a full pipe would stall the process
            assert process.stdout is not None
            for line in process.stdout:
                self.logs.setdefault(service, []).append(line)
                if listening_address(line) is not None:
                    listening.set()
            listening.set()

        threading.Thread(target=read_logs, daemon=True).start()
        started = listening.wait(60) and process.poll() is None
        assert started, f"{service} did not start: {''.join(self.logs.get(service, [])[-20:])}"
        self.running[service] = process

    def kill(self, service: str) -> None:
        process = self.running.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop_all(self) -> None:
        for service in list(self.running):
            self.kill(service)


@contextmanager
def three_processes(database_url: str, home: Path) -> Iterator[Processes]:
    processes = Processes(database_url, home)
    try:
        for service in SERVICES:
            processes.start(service)
        yield processes
    finally:
        processes.stop_all()


async def retried(call, request, metadata, attempts: int = 100):
    """``call(request)``, again after UNAVAILABLE (a client's retry policy, 0.2 s apart)."""
    for _ in range(attempts - 1):
        try:
            return await call(request, metadata=metadata, wait_for_ready=True, timeout=60)
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
        await asyncio.sleep(0.2)
    return await call(request, metadata=metadata, wait_for_ready=True, timeout=60)


async def committed_event_ids(processes: Processes, auth) -> set[str]:
    found: set[str] = set()
    for service, messages, stubs in (
        ("metering", metering_events, metering_events_grpc),
        ("credits", credits_events, credits_events_grpc),
        ("invoicing", invoicing_events, invoicing_events_grpc),
    ):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{processes.ports[service]}") as channel:
            stub = stubs.EventServiceStub(channel)
            token = ""
            while True:
                reply = await stub.ListEvents(
                    messages.ListEventsRequest(page_size=100, page_token=token), metadata=auth
                )
                found |= {event.id for event in reply.events}
                token = reply.next_page_token
                if not token:
                    break
    return found


@needs_restartable_postgres
async def test_every_committed_event_is_delivered_through_kills_and_a_database_restart(
    database_url: str, tmp_path: Path
) -> None:
    admin = [
        ("authorization", f"Bearer {auth_store.create_key(database_url, Role.ADMIN, label='crash').token}")
    ]
    with three_processes(database_url, tmp_path) as processes, receiving() as receiver:
        invoicing = grpc.aio.insecure_channel(f"127.0.0.1:{processes.ports['invoicing']}")
        metering = grpc.aio.insecure_channel(f"127.0.0.1:{processes.ports['metering']}")
        endpoint = (
            await webhooks_grpc.WebhookEndpointServiceStub(invoicing).CreateWebhookEndpoint(
                webhooks_pb.CreateWebhookEndpointRequest(
                    webhook_endpoint=webhook_endpoint_pb2.WebhookEndpoint(url=receiver.url, event_types=["*"])
                ),
                metadata=admin,
            )
        ).webhook_endpoint
        meters = meter_service_pb2_grpc.MeterServiceStub(metering)
        customers = customer_service_pb2_grpc.CustomerServiceStub(invoicing)
        credits = grpc.aio.insecure_channel(f"127.0.0.1:{processes.ports['credits']}")
        grants = credit_grant_service_pb2_grpc.CreditGrantServiceStub(credits)

        async def changes(tag: str, count: int = 3) -> None:
            """A meter and a customer per ``count``, each call retried (same request id)
            while a service or the database is coming back."""
            for n in range(count):
                await retried(
                    meters.CreateMeter,
                    meter_service_pb2.CreateMeterRequest(
                        meter=meter_pb2.Meter(
                            display_name=f"{tag} {n}",
                            event_name=f"{tag}_{n}",
                            aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                        ),
                        request_id=f"meter-{tag}-{n}",
                    ),
                    admin,
                )
                created = await retried(
                    customers.CreateCustomer,
                    customer_service_pb2.CreateCustomerRequest(
                        customer=customer_pb2.Customer(name=f"{tag} {n}"), request_id=f"customer-{tag}-{n}"
                    ),
                    admin,
                )
                await retried(
                    grants.CreateCreditGrant,
                    credit_grant_service_pb2.CreateCreditGrantRequest(
                        credit_grant=credit_grant_pb2.CreditGrant(
                            customer_id=created.customer.id,
                            amount=money_pb2.Money(currency_code="USD", units=10),
                            name="credits",
                            category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
                            applicability_config=credit_grant_pb2.ApplicabilityConfig(
                                price_type=credit_grant_pb2.PRICE_TYPE_METERED
                            ),
                        ),
                        request_id=f"grant-{tag}-{n}",
                    ),
                    admin,
                )

        await changes("before")
        for service in ("metering", "credits"):  # each peer killed and restarted
            processes.kill(service)
            processes.start(service)
            await changes(f"after_{service}")

        # The dispatcher killed while it waits for an answer: the receiver holds the next
        # request until invoicing is gone, and the delivery is attempted again after the lease.
        receiver.hold_next()
        await changes("in_flight", count=1)
        held = json.loads(await receiver.held(timeout=60))["id"]
        processes.kill("invoicing")
        receiver.release()
        processes.start("invoicing")
        await changes("after_invoicing")

        restart_postgres(database_url)
        await changes("after_postgres")

        committed = await committed_event_ids(processes, admin)
        delivered: dict[str, int] = {}
        while not committed <= set(delivered):
            request = await receiver.next(timeout=120)
            event_id = json.loads(verify(request.body, request.headers[HEADER], endpoint.secret))["id"]
            delivered[event_id] = delivered.get(event_id, 0) + 1
        for channel in (invoicing, metering, credits):
            await channel.close()
    assert held in delivered, "the delivery cut off by the kill came again, with the same event id"
    # Per change: meter.created, customer.created, credit_grant.created and its
    # credit_balance_transaction.created.
    assert len(committed) == 4 * (3 + 3 + 3 + 1 + 3 + 3)
