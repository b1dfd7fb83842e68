"""The transactional outbox every service keeps in its own schema (E-1, E-2).

A use case records events on its unit of work (``uow.outbox.record(...)``); they are
written by that unit just before it commits, in its transaction, so there is an event
for every change that committed and none for one that rolled back.

Positions are the stream's order and must never leave a gap a reader could pass: with a
plain sequence, a transaction that took position 10 and commits after another took 11
becomes visible too late for a reader already past 11. So the events of a transaction
are written as its last statement, under a transaction-level advisory lock of the
schema's outbox, and get their positions there: the lock is held until the transaction
has committed and become visible, so positions are handed out in commit order and a
reader that sees position n sees every committed position below it. What serializes is
one INSERT and the COMMIT of the transactions that record events; the meter-event hot
path records none (E-6 aggregates its rejections).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message

from drawdown import ids

# The request_id of the mutating call being served, for the events it causes (E-2).
# ``drawdown.rpc.idempotent.Mutations`` sets it around the call's work.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")

_TS = sa.DateTime(timezone=True)

# Turns what a use case recorded (a domain value) into its API message: each service's
# api layer provides it, so that the service layer stays free of protos.
Encoder = Callable[[object], Message]


def encoder(messages: Mapping[type, Callable[[Any], Message]]) -> Encoder:
    """An ``Encoder`` from the API conversion of each kind of value a service records."""

    def encode(subject: object) -> Message:
        convert = messages.get(type(subject))
        if convert is None:
            raise TypeError(f"no API message is known for a {type(subject).__name__}")
        return convert(subject)

    return encode


class EventTables:
    """A service's outbox, ``<schema>.events``, and ``<schema>.event_retention`` (one row:
    the last position pruned, so that a cursor older than it is known to have expired).

    ``clock_of_customer`` (a table, its customer id column, its test clock id column) is
    where the service keeps its customers' test clocks (I-18): an event recorded without a
    test clock id gets its customer's, looked up by the INSERT itself, so recording costs
    no round trip of its own."""

    def __init__(
        self, metadata: sa.MetaData, clock_of_customer: tuple[sa.Table, str, str] | None = None
    ) -> None:
        self.events = sa.Table(
            "events",
            metadata,
            sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
            sa.Column("id", sa.Text, nullable=False, unique=True),
            sa.Column("type", sa.Text, nullable=False),
            sa.Column("customer_id", sa.Text),
            sa.Column("test_clock_id", sa.Text),
            sa.Column("request_id", sa.Text),
            sa.Column("create_time", _TS, nullable=False),
            sa.Column("data_type", sa.Text, nullable=False),
            sa.Column("data", sa.LargeBinary, nullable=False),
        )
        sa.Index("events_by_customer", self.events.c.customer_id, self.events.c.position)
        sa.Index("events_by_create_time", self.events.c.create_time)
        self.retention = sa.Table(
            "event_retention",
            metadata,
            sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
            sa.Column("pruned_through", sa.BigInteger, nullable=False, server_default="0"),
            sa.CheckConstraint("singleton", name="event_retention_one_row"),
        )
        schema = self.events.schema or "public"
        self.channel = f"drawdown_events_{schema}"
        events = self.events.fullname
        # hashtext of the table's name: one lock per schema's outbox.
        self.lock_sql = "SELECT pg_advisory_xact_lock(hashtext(%(lock)s)), pg_notify(%(channel)s, '')"
        self.lock_params = {"lock": events, "channel": self.channel}
        test_clock_id = "e.test_clock_id"
        if clock_of_customer is not None:
            table, customer_column, clock_column = clock_of_customer
            test_clock_id = (
                f"coalesce(e.test_clock_id, (SELECT c.{clock_column} FROM {table.fullname} AS c"
                f" WHERE c.{customer_column} = e.customer_id))"
            )
        self.insert_sql = f"""
            INSERT INTO {events} (id, type, customer_id, test_clock_id, request_id, create_time, data_type, data)
            SELECT e.id, e.type, e.customer_id, {test_clock_id}, e.request_id, e.create_time, e.data_type, e.data
              FROM unnest(%(ids)s::text[], %(types)s::text[], %(customer_ids)s::text[],
                          %(test_clock_ids)s::text[], %(request_ids)s::text[],
                          %(create_times)s::timestamptz[], %(data_types)s::text[], %(data)s::bytea[])
                AS e(id, type, customer_id, test_clock_id, request_id, create_time, data_type, data)"""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    type: str
    subject: object
    customer_id: str
    test_clock_id: str
    request_id: str


@dataclass(slots=True)
class Outbox:
    """The events one unit of work records; ``statements()`` writes them at its commit."""

    tables: EventTables
    encode: Encoder
    now: Callable[[], datetime]
    pending: list[PendingEvent] = field(default_factory=list)

    def record(
        self,
        type: str,
        subject: object,
        *,
        customer_id: str = "",
        test_clock_id: str = "",
        request_id: str = "",
    ) -> None:
        """Record that ``subject`` (the resource after the change) changed as ``type``
        says (``invoice.finalized``); ``request_id`` defaults to the current call's, and
        ``test_clock_id`` to the customer's when the tables know it (``EventTables``)."""
        self.pending.append(
            PendingEvent(type, subject, customer_id, test_clock_id, request_id or current_request_id.get())
        )

    def statements(self) -> list[tuple[str, Mapping[str, Any]]]:
        """What writes the pending events, to run last before COMMIT (none if none)."""
        if not self.pending:
            return []
        pending, self.pending = self.pending, []
        now = self.now()
        messages = [self.encode(event.subject) for event in pending]
        params = {
            "ids": [ids.new_id(ids.EVENT) for _ in pending],
            "types": [event.type for event in pending],
            "customer_ids": [event.customer_id or None for event in pending],
            "test_clock_ids": [event.test_clock_id or None for event in pending],
            "request_ids": [event.request_id or None for event in pending],
            "create_times": [now] * len(pending),
            "data_types": [message.DESCRIPTOR.full_name for message in messages],
            "data": [message.SerializeToString(deterministic=True) for message in messages],
        }
        return [(self.tables.lock_sql, self.tables.lock_params), (self.tables.insert_sql, params)]
