"""The EventService every service serves over its own outbox (E-3).

Each service declares the service in its own package (``drawdown.<service>.v1``) with
the same messages; this servicer serves any of them, given the package's modules.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
from google.protobuf import any_pb2

from drawdown import pagination
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.events import reasons
from drawdown.events.log import EventFeed, EventFilter, EventLog, StoredEvent, follow
from drawdown.rpc.convert import optional_timestamp, timestamp_to_proto
from drawdown.type.v1 import event_pb2

_CURSOR = re.compile(r"[0-9]{1,18}")


def event_message(stored: StoredEvent) -> event_pb2.Event:
    return event_pb2.Event(
        id=stored.id,
        type=stored.type,
        create_time=timestamp_to_proto(stored.create_time),
        customer_id=stored.customer_id,
        test_clock_id=stored.test_clock_id,
        request_id=stored.request_id,
        data=any_pb2.Any(type_url=f"type.googleapis.com/{stored.data_type}", value=stored.data),
        cursor=str(stored.position),
    )


def parse_cursor(cursor: str, field: str = "after_cursor") -> int | None:
    """The position a cursor names; None for an empty one."""
    if not cursor:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise InvalidArgument.for_field(field, "is not a cursor of this service's events")
    return int(cursor)


class EventServicer:
    """ListEvents and StreamEvents over one schema's outbox, for ``messages`` (the
    service's ``event_service_pb2``)."""

    def __init__(self, messages: ModuleType, log: EventLog, feed: EventFeed) -> None:
        self._messages = messages
        self._log = log
        self._feed = feed

    async def ListEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        size = pagination.page_size(request.page_size)
        wanted = EventFilter(
            types=list(request.types),
            customer_id=request.customer_id,
            created_from=optional_timestamp(request.created, "start_time", "created.start_time")
            if request.HasField("created")
            else None,
            created_before=optional_timestamp(request.created, "end_time", "created.end_time")
            if request.HasField("created")
            else None,
        )
        if wanted.created_from and wanted.created_before and wanted.created_from > wanted.created_before:
            raise InvalidArgument.for_field("created.end_time", "is before created.start_time")
        filters = [
            *wanted.types,
            wanted.customer_id,
            wanted.created_from,
            wanted.created_before,
            request.after_cursor,
        ]
        after = parse_cursor(request.after_cursor) or 0
        key = pagination.decode_page_token(request.page_token, filters)
        if key is not None:
            after = int(key[0])
        rows, _ = await self._log.page(after, wanted, size + 1)
        page, token = pagination.next_page(rows, size, lambda row: [row.position], filters)
        return self._messages.ListEventsResponse(
            events=[event_message(row) for row in page], next_page_token=token
        )

    async def StreamEvents(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        wanted = EventFilter(types=list(request.types), customer_id=request.customer_id)
        after = parse_cursor(request.after_cursor)
        if after is None:
            after = await self._log.last_position()
        elif after < await self._log.pruned_through():
            raise FailedPrecondition(
                "after_cursor is older than the events kept; list events by created time to catch up",
                reason=reasons.CURSOR_EXPIRED,
            )
        async for event in follow(self._log, self._feed, after, wanted):
            yield self._messages.StreamEventsResponse(event=event_message(event))
