"""Event use cases: ingestion (M-10..M-17), group commit for single events, cancellation (M-16).

Every ingestion path (one event, a batch, a stream batch) goes through
:meth:`Ingestion.ingest`: one validation (``domain.events.validate_event``) and one store
path (``store.events.insert_events``), in one transaction whose commit is the
acknowledgement (M-14). Single events are grouped by :class:`GroupCommit` so that
concurrent calls share one transaction.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from drawdown.clock import Clock
from drawdown.db.engine import Database, UnitOfWork
from drawdown.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from metering_service.domain.events import (
    EventInput,
    MeterEvent,
    check_cancellable,
    check_replay,
    validate_event,
)
from metering_service.domain.meters import Meter
from metering_service.store import events as store
from metering_service.store import meters as meters_store

MAX_BATCH_SIZE = 10_000


class EventStatus(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class EventOutcome(NamedTuple):
    """What happened to one event of an ingestion call.

    ACCEPTED and DUPLICATE carry the event (as validated from this request) and the stored
    row's facts (for DUPLICATE, the first event's); REJECTED carries the error.
    """

    status: EventStatus
    identifier: str
    event: MeterEvent | None = None
    stored: store.StoredEvent | None = None
    error: DomainError | None = None


class Ingestion:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def ingest_batch(
        self, inputs: Sequence[EventInput], *, sequence: int | None = None
    ) -> list[EventOutcome]:
        """A client's batch (M-15): at most 10,000 events, else BATCH_TOO_LARGE and nothing stored."""
        if len(inputs) > MAX_BATCH_SIZE:
            raise InvalidArgument.for_field(
                "events",
                f"holds {len(inputs)} events; a batch holds at most {MAX_BATCH_SIZE}",
                reason="BATCH_TOO_LARGE",
                metadata={} if sequence is None else {"sequence": str(sequence)},
            )
        return await self.ingest(inputs)

    async def ingest(self, inputs: Sequence[EventInput]) -> list[EventOutcome]:
        """Validate and store a batch; one outcome per event, in order (M-13, M-15).

        Valid events are stored even when others are refused. Within the batch the first
        occurrence of an identifier is the one stored; later ones, like replays of stored
        events, are duplicates or EVENT_IDENTIFIER_CONFLICT.
        """
        received_at = self._clock.now()
        outcomes: list[EventOutcome | None] = [None] * len(inputs)
        validated: list[tuple[int, MeterEvent]] = []
        async with self._database.unit_of_work() as uow:
            meters = await meters_store.meters_by_event_name(
                uow.session, {item.event_name for item in inputs}
            )
            first: dict[tuple[str, str], store.StagedEvent] = {}
            for index, item in enumerate(inputs):
                try:
                    event = validate_event(meters.get, item, received_at)
                except DomainError as error:
                    outcomes[index] = EventOutcome(EventStatus.REJECTED, item.identifier, error=error)
                    continue
                validated.append((index, event))
                first.setdefault(
                    (event.meter_id, event.identifier),
                    store.StagedEvent(index, meters[item.event_name], event),
                )
            batch = store.InsertedBatch({}, {})
            if first:
                batch = await store.insert_events(uow.session, list(first.values()), received_at)
            await uow.commit()
        for index, event in validated:
            outcomes[index] = _outcome(index, event, batch, first, received_at)
        return outcomes  # type: ignore[return-value]


def _outcome(
    index: int,
    event: MeterEvent,
    batch: store.InsertedBatch,
    first: dict[tuple[str, str], store.StagedEvent],
    received_at: datetime,
) -> EventOutcome:
    key = (event.meter_id, event.identifier)
    inserted_at = batch.inserted.get(key)
    if inserted_at is not None:
        original = first[key].event
        stored = store.StoredEvent(original.fingerprint, original.timestamp, received_at, None)
        if inserted_at == index:
            return EventOutcome(EventStatus.ACCEPTED, event.identifier, event, stored)
    else:
        stored = batch.existing[key]
    try:
        check_replay(event, stored.fingerprint, stored.timestamp)
    except AlreadyExists as error:
        return EventOutcome(EventStatus.REJECTED, event.identifier, error=error)
    return EventOutcome(EventStatus.DUPLICATE, event.identifier, event, stored)


class GroupCommit:
    """Single events from concurrent calls, written together by one writer task (M-14).

    Each call queues its event and waits; the writer takes everything queued (up to a
    batch), ingests it in one transaction and answers every call after the commit. The
    queue is bounded, so callers wait when the database falls behind. If a group's
    transaction fails as a whole, its events are retried one by one, so one bad event
    cannot fail the others.
    """

    def __init__(self, ingestion: Ingestion, max_group: int = 1_000) -> None:
        self._ingestion = ingestion
        self._max_group = max_group
        self._queue: asyncio.Queue[tuple[EventInput, asyncio.Future[EventOutcome]]] = asyncio.Queue(
            maxsize=max_group * 4
        )

    async def submit(self, event: EventInput) -> EventOutcome:
        future: asyncio.Future[EventOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def run(self) -> None:
        """The writer task: runs until cancelled at shutdown (after in-flight calls drained)."""
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max_group and not self._queue.empty():
                group.append(self._queue.get_nowait())
            await self._write(group)

    async def _write(self, group: list[tuple[EventInput, asyncio.Future[EventOutcome]]]) -> None:
        try:
            outcomes = await self._ingestion.ingest([event for event, _ in group])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting callers
            if len(group) > 1:
                for item in group:
                    await self._write([item])
                return
            outcomes = []
            if not group[0][1].done():
                group[0][1].set_exception(exc)
        for (_, future), outcome in zip(group, outcomes, strict=False):
            if not future.done():
                future.set_result(outcome)


@dataclass(frozen=True)
class CancelledEvent:
    meter: Meter
    event: store.EventRow


class Cancellation:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def cancel(self, uow: UnitOfWork, event_name: str, identifier: str) -> CancelledEvent:
        """Cancel an event within 24 h of its receipt (M-16); cancelling twice returns it unchanged."""
        meters = await meters_store.meters_by_event_name(uow.session, [event_name])
        meter = meters.get(event_name)
        row = None if meter is None else await store.get_event_for_update(uow.session, meter.id, identifier)
        if meter is None or row is None:
            raise NotFound(
                f"no event {identifier!r} of event_name {event_name!r}",
                reason="EVENT_NOT_FOUND",
                metadata={"event_name": event_name, "identifier": identifier},
            )
        if row.cancelled_at is not None:
            return CancelledEvent(meter, row)
        now = self._clock.now()
        check_cancellable(row.received_at, now)
        await store.cancel_event(uow.session, meter, row, now)
        return CancelledEvent(meter, row._replace(cancelled_at=now))
