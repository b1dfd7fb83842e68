"""Giving a service its events (E-1..E-3): the outbox of its units of work, its
EventService, and the background pruning of events past the retention period."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from types import ModuleType

import grpc

from drawdown.db.retention import prune_in_background
from drawdown.events.log import EventFeed, EventLog
from drawdown.events.outbox import Encoder, EventTables, Outbox
from drawdown.events.servicer import EventServicer
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext


def serve_events(
    server: grpc.aio.Server,
    context: ServiceContext,
    tables: EventTables,
    encode: Encoder,
    messages: ModuleType,
    stubs: ModuleType,
) -> tuple[str, EventLog, EventFeed]:
    """Record the service's events in ``tables`` (each unit of work's ``uow.outbox``,
    ``encode`` turning what a use case records into its API message), serve them with
    the EventService of ``messages``/``stubs`` (the service's ``event_service_pb2`` and
    ``_grpc``), prune them in the background; the service's full name, its log and feed."""
    context.database.outboxes = partial(Outbox, tables, encode, context.clock.now)
    events = EventLog(context.database, tables)
    feed = EventFeed(context.database, tables)
    context.on_stop.append(feed.close)
    stubs.add_EventServiceServicer_to_server(EventServicer(messages, events, feed), server)
    retention = timedelta(days=context.settings.event_retention_days)
    prune_in_background(context, f"{tables.events.fullname}", events.prune, retention)
    return service_full_name(messages, "EventService"), events, feed
