"""The event streams webhooks follow (E-5): metering's and credits' over their
StreamEvents, invoicing's own from its outbox; and the HTTP sender of deliveries (E-4).

Bodies are the JSON of a ``drawdown.type.v1.Event`` with field names as in the .proto
files, its ``data`` carrying an ``@type``, so any protobuf JSON parser reads it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from types import ModuleType
from typing import Any

import grpc
import httpx
from google.protobuf import json_format

# Every message an event's data may hold, so that its JSON can be written.
from drawdown.credits.v1 import credit_balance_pb2, credit_grant_pb2  # noqa: F401
from drawdown.events.log import EventFeed, EventFilter, EventLog, follow
from drawdown.events.servicer import event_message
from drawdown.events.signature import HEADER, signature_header
from drawdown.invoicing.v1 import (  # noqa: F401
    customer_pb2,
    invoice_pb2,
    subscription_pb2,
    test_clock_pb2,
    webhook_endpoint_pb2,
)
from drawdown.metering.v1 import meter_pb2  # noqa: F401
from drawdown.rpc.clients import ServiceChannel
from drawdown.type.v1 import event_pb2
from invoicing_service.domain.webhooks import SourcedEvent, SourceWithoutEvents

USER_AGENT = "Drawdown-Webhooks/1"
# httpx logs every request at INFO; the dispatcher logs what matters itself.
logging.getLogger("httpx").setLevel(logging.WARNING)


def sourced(event: event_pb2.Event) -> SourcedEvent:
    body = json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None, sort_keys=True)
    return SourcedEvent(
        position=int(event.cursor),
        id=event.id,
        type=event.type,
        create_time=event.create_time.ToDatetime(tzinfo=UTC),
        body=body.encode(),
    )


class RemoteEvents:
    """A peer's events over its StreamEvents (``messages``/``stubs``: its event_service modules)."""

    def __init__(
        self, name: str, channel: ServiceChannel, messages: ModuleType, stubs: ModuleType, metadata: Any
    ) -> None:
        self.name = name
        self._stub = stubs.EventServiceStub(channel)
        self._messages = messages
        self._metadata = metadata

    async def events_after(self, position: int) -> AsyncIterator[SourcedEvent]:
        call = self._stub.StreamEvents(
            self._messages.StreamEventsRequest(after_cursor=str(position)),
            metadata=self._metadata,
            wait_for_ready=True,  # a peer still starting is waited for
        )
        try:
            async for response in call:
                yield sourced(response.event)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.UNIMPLEMENTED:
                raise SourceWithoutEvents(self.name) from None
            raise
        finally:
            call.cancel()


class LocalEvents:
    """Invoicing's own events, read from its outbox."""

    def __init__(self, name: str, log: EventLog, feed: EventFeed) -> None:
        self.name = name
        self._log = log
        self._feed = feed

    async def events_after(self, position: int) -> AsyncIterator[SourcedEvent]:
        async for stored in follow(self._log, self._feed, position, EventFilter()):
            yield sourced(event_message(stored))


class HttpSender:
    """POSTs deliveries with httpx, signed at the moment they are sent (by this machine's
    clock, which the receiver's tolerance is measured against)."""

    def __init__(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": USER_AGENT})

    async def post(self, url: str, body: bytes, secret: str, timeout: timedelta) -> tuple[int, str, int]:
        headers = {
            "Content-Type": "application/json",
            HEADER: signature_header(secret, body, int(time.time())),
        }
        started = time.monotonic()
        try:
            response = await self._client.post(
                url, content=body, headers=headers, timeout=timeout.total_seconds()
            )
        except httpx.HTTPError as error:
            return 0, f"{type(error).__name__}: {error}"[:500], _ms_since(started)
        return response.status_code, "", _ms_since(started)

    async def close(self) -> None:
        await self._client.aclose()


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
