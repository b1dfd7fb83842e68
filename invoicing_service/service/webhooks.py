"""Webhook endpoints (E-4) and the dispatcher that delivers every service's events to them (E-5).

The dispatcher runs in every invoicing replica. For each service's events one replica at
a time (the holder of an advisory lock on a connection of its own, so a replica that dies
hands it on) follows the service's event stream from where the fan-out last stopped, and
queues a delivery per event and enabled endpoint subscribed to it, in the transaction
that moves that position on: an event is queued once per endpoint, whichever replica
queues it, and none is skipped. Every replica attempts due deliveries, claimed with
SKIP LOCKED and leased for longer than an attempt may take, so a replica killed mid-POST
leaves its deliveries to be attempted again once the lease ends: at least once, with the
same event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

import structlog

from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.events import types
from invoicing_service.domain import reasons
from invoicing_service.domain.webhooks import (
    ATTEMPT_TIMEOUT,
    NOT_DISABLED_BY_FAILURES,
    Attempt,
    Delivery,
    DeliveryStatus,
    EndpointStatus,
    SourcedEvent,
    SourceWithoutEvents,
    WebhookEndpoint,
    endpoint_after_attempt,
    new_secret,
    validate_description,
    validate_event_types,
    validate_url,
)
from invoicing_service.store.unit import InvoicingUnit, on_one_connection
from invoicing_service.store.webhooks import DueDelivery, NewDelivery

log = structlog.get_logger("invoicing.webhooks")

UPDATABLE_PATHS = ("url", "event_types", "description", "status")
# Deliveries claimed per look, and events queued per transaction.
CLAIM_BATCH = 20
FAN_OUT_BATCH = 200
# How often the fan-out stores its position when the events it passes queue nothing (most
# events, with few endpoints): no write per commit of the services. Replaying events
# after a restart from an older position queues nothing new (a delivery is unique per
# endpoint and event, and endpoints only want the events created after them).
POSITION_WRITE_SECONDS = 5.0


# How long to wait before asking again a service that serves no events (an older version).
SOURCE_WITHOUT_EVENTS_RETRY_SECONDS = 60.0


class EventSource(Protocol):
    """One service's events, in order, from a position on (its StreamEvents); raises
    ``SourceWithoutEvents`` when the service serves none."""

    name: str

    def events_after(self, position: int) -> AsyncIterator[SourcedEvent]: ...


class Sender(Protocol):
    async def post(self, url: str, body: bytes, secret: str, timeout: timedelta) -> tuple[int, str, int]:
        """POST a signed delivery; the HTTP status (0 without an answer), the error
        without an answer, and how long it took in milliseconds."""
        ...


@dataclass(frozen=True)
class EndpointDraft:
    url: str
    event_types: Sequence[str]
    description: str


@dataclass(frozen=True)
class EndpointChanges:
    endpoint_id: str
    paths: Sequence[str]
    url: str
    event_types: Sequence[str]
    description: str
    status: EndpointStatus | None


class WebhookUseCases:
    def __init__(self, database: Database, clock: Clock, dispatcher: Dispatcher | None = None) -> None:
        self._database = database
        self._clock = clock
        self._dispatcher = dispatcher

    async def create(self, uow: InvoicingUnit, draft: EndpointDraft) -> WebhookEndpoint:
        now = self._clock.now()
        endpoint = WebhookEndpoint(
            id=ids.new_id(ids.WEBHOOK_ENDPOINT),
            url=validate_url(draft.url, "webhook_endpoint.url"),
            event_types=validate_event_types(draft.event_types, "webhook_endpoint.event_types"),
            description=validate_description(draft.description, "webhook_endpoint.description"),
            status=EndpointStatus.ENABLED,
            secret=new_secret(),
            disabled_reason=NOT_DISABLED_BY_FAILURES,
            failing_since=None,
            create_time=now,
            update_time=now,
        )
        await uow.webhooks.insert_endpoint(endpoint)
        return endpoint

    async def get(self, endpoint_id: str) -> WebhookEndpoint:
        async with self._database.unit_of_work() as uow:
            return await uow.webhooks.get_endpoint(endpoint_id)

    async def list(self, after: list | None, limit: int) -> list[WebhookEndpoint]:
        async with self._database.unit_of_work() as uow:
            return await uow.webhooks.list_endpoints(after, limit)

    async def update(self, uow: InvoicingUnit, changes: EndpointChanges) -> WebhookEndpoint:
        if not changes.paths:
            raise InvalidArgument.for_field("update_mask", "must name at least one field")
        for path in changes.paths:
            if path not in UPDATABLE_PATHS:
                raise InvalidArgument.for_field("update_mask", f"{path!r} cannot be updated")
        endpoint = await uow.webhooks.get_endpoint(changes.endpoint_id, for_update=True)
        now = self._clock.now()
        updated = replace(endpoint, update_time=now)
        if "url" in changes.paths:
            updated = replace(updated, url=validate_url(changes.url, "webhook_endpoint.url"))
        if "event_types" in changes.paths:
            updated = replace(
                updated,
                event_types=validate_event_types(changes.event_types, "webhook_endpoint.event_types"),
            )
        if "description" in changes.paths:
            updated = replace(
                updated, description=validate_description(changes.description, "webhook_endpoint.description")
            )
        if "status" in changes.paths:
            if changes.status is None:
                raise InvalidArgument.for_field("webhook_endpoint.status", "must be ENABLED or DISABLED")
            if changes.status is not endpoint.status:
                # Enabled again: it gets the events created from now on, and a clean record.
                updated = replace(
                    updated,
                    status=changes.status,
                    disabled_reason=NOT_DISABLED_BY_FAILURES,
                    failing_since=None,
                    create_time=now if changes.status is EndpointStatus.ENABLED else endpoint.create_time,
                )
        await uow.webhooks.save_endpoint(updated)
        return updated

    async def delete(self, uow: InvoicingUnit, endpoint_id: str) -> None:
        await uow.webhooks.get_endpoint(endpoint_id, for_update=True)
        await uow.webhooks.delete_endpoint(endpoint_id)

    async def roll_secret(self, uow: InvoicingUnit, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await uow.webhooks.get_endpoint(endpoint_id, for_update=True)
        rolled = replace(endpoint, secret=new_secret(), update_time=self._clock.now())
        await uow.webhooks.save_endpoint(rolled)
        return rolled

    async def list_deliveries(
        self, endpoint_id: str, event_id: str, after: list | None, limit: int
    ) -> list[Delivery]:
        async with self._database.unit_of_work() as uow:
            await uow.webhooks.get_endpoint(endpoint_id)
            return await uow.webhooks.list_deliveries(endpoint_id, event_id, after, limit)

    async def resend(self, uow: InvoicingUnit, endpoint_id: str, event_id: str) -> Delivery:
        endpoint = await uow.webhooks.get_endpoint(endpoint_id)
        if endpoint.status is not EndpointStatus.ENABLED:
            raise FailedPrecondition(
                f"webhook endpoint {endpoint_id} is disabled",
                reason=reasons.WEBHOOK_ENDPOINT_DISABLED,
                metadata={"id": endpoint_id},
            )
        delivery = await uow.webhooks.delivery_of(endpoint_id, event_id, for_update=True)
        again = replace(delivery, status=DeliveryStatus.PENDING, next_attempt_time=self._clock.now())
        await uow.webhooks.save_delivery(again)
        if self._dispatcher is not None:
            self._dispatcher.wake()
        return again


class Dispatcher:
    """Fans each service's events out to the endpoints and attempts due deliveries."""

    def __init__(
        self,
        database: Database,
        sources: Sequence[EventSource],
        sender: Sender,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=60),
        idle_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._sources = sources
        self._sender = sender
        self._clock = clock
        self._lease = lease
        self._idle_seconds = idle_seconds
        self._due = asyncio.Event()

    def wake(self) -> None:
        """Look for due deliveries now (a delivery was queued or made due)."""
        self._due.set()

    async def run(self, stopping: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._fan_out_forever(source)) for source in self._sources]
        tasks.append(asyncio.create_task(self._deliver_forever()))
        try:
            await stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _fan_out_forever(self, source: EventSource) -> None:
        while True:
            pause = self._idle_seconds
            try:
                await self.fan_out(source)
            except SourceWithoutEvents:
                log.info("webhooks.source_without_events", source=source.name)
                pause = SOURCE_WITHOUT_EVENTS_RETRY_SECONDS
            except Exception as error:  # noqa: BLE001 - the database or the source went away: again
                log.warning("webhooks.fan_out_failed", source=source.name, error=str(error))
            await asyncio.sleep(pause)

    async def fan_out(self, source: EventSource) -> None:
        """While this replica holds ``source``'s lock, queue its events' deliveries."""
        async with on_one_connection(self._database) as connection:
            lock = f"drawdown.webhooks.fan_out.{source.name}"
            if not await connection.try_lock(lock):
                return
            try:
                async with connection.unit_of_work() as uow:
                    position = await uow.webhooks.source_position(source.name) or 0
                written = time.monotonic()
                async for batch in _batches(source.events_after(position), FAN_OUT_BATCH):
                    async with connection.unit_of_work() as uow:
                        queued = await self._queue(uow, batch)
                        if queued or time.monotonic() - written >= POSITION_WRITE_SECONDS:
                            await uow.webhooks.advance_source(
                                source.name, batch[-1].position, self._clock.now()
                            )
                            await uow.commit()
                            written = time.monotonic()
                    if queued:
                        self.wake()
            finally:
                with contextlib.suppress(Exception):
                    await connection.unlock(lock)

    async def _queue(self, uow: InvoicingUnit, events: Sequence[SourcedEvent]) -> int:
        """Queue the deliveries ``events`` call for; how many."""
        endpoints = await uow.webhooks.enabled_endpoints()
        deliveries = [
            NewDelivery(endpoint.id, event.id, event.type, event.body)
            for event in events
            for endpoint in endpoints
            if endpoint.wants(event.type, event.create_time)
        ]
        await uow.webhooks.add_deliveries(deliveries, self._clock.now())
        return len(deliveries)

    async def _deliver_forever(self) -> None:
        while True:
            self._due.clear()
            try:
                attempted = await self.deliver_due()
            except Exception as error:  # noqa: BLE001 - the database went away: again
                log.warning("webhooks.delivery_failed", error=str(error))
                attempted = 0
            if attempted < CLAIM_BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), self._idle_seconds)

    async def deliver_due(self) -> int:
        """Attempt the deliveries due now (up to one batch); how many were attempted."""
        async with self._database.unit_of_work() as uow:
            claimed = await uow.webhooks.claim_due(self._clock.now(), self._lease, CLAIM_BATCH)
            await uow.commit()
        await asyncio.gather(*(self._attempt(due) for due in claimed))
        return len(claimed)

    async def _attempt(self, due: DueDelivery) -> None:
        attempt_time = self._clock.now()
        status, error, duration_ms = await self._sender.post(
            due.endpoint.url, due.body, due.endpoint.secret, ATTEMPT_TIMEOUT
        )
        attempt = Attempt(attempt_time=attempt_time, http_status=status, error=error, duration_ms=duration_ms)
        async with self._database.unit_of_work() as uow:
            await uow.webhooks.record_attempt(due.delivery.after(attempt))
            endpoint = await uow.webhooks.get_endpoint(due.endpoint.id, for_update=True)
            changed = endpoint_after_attempt(endpoint, attempt)
            if changed != endpoint:
                await uow.webhooks.save_endpoint(changed)
                if changed.status is not endpoint.status:
                    uow.outbox.record(types.WEBHOOK_ENDPOINT_DISABLED, changed)
                    log.warning("webhooks.endpoint_disabled", endpoint=endpoint.id, url=endpoint.url)
            await uow.commit()


async def _batches(events: AsyncIterator[SourcedEvent], size: int) -> AsyncIterator[list[SourcedEvent]]:
    """The events in lists of up to ``size``: whatever has arrived when the first of a list
    did, without waiting for more."""
    queue: asyncio.Queue[SourcedEvent] = asyncio.Queue(maxsize=size * 4)

    async def read() -> None:
        async for event in events:
            await queue.put(event)

    reader = asyncio.create_task(read())
    try:
        while True:
            getting = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getting, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                reader.result()  # raises what ended the stream
                return
            batch = [getting.result()]
            while len(batch) < size and not queue.empty():
                batch.append(queue.get_nowait())
            yield batch
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
