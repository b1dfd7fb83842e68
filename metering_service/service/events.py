"""Event use cases: ingestion (M-10..M-17), group commit for single events, cancellation (M-16).

Every ingestion path (one event, a batch, a stream batch) goes through
:meth:`Ingestion.ingest_bulk`: one validation (``domain.events.validate_event``) and one store
path (``EventRepository.insert``), in one transaction whose commit is the
acknowledgement (M-14). Single events are grouped by :class:`GroupCommit` so that
concurrent calls share one transaction; a stream keeps up to :data:`IN_FLIGHT` of its
batches in the database at once (:class:`StreamIngestion`). Once a batch has committed,
its refused events are counted for the error reports (E-6, ``service.error_reports``).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import operator
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NamedTuple

from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from drawdown.metrics import METER_EVENT_BATCH_SIZE, METER_EVENTS
from metering_service.domain import reasons
from metering_service.domain.error_reports import Refusal
from metering_service.domain.events import (
    MAX_PAYLOAD_VALUE_LENGTH,
    NUL,
    EventInput,
    MeterEvent,
    check_cancellable,
    check_replay,
    validate_event,
)
from metering_service.domain.meters import MAX_EVENT_NAME_LENGTH, Meter
from metering_service.service.error_reports import ErrorReports
from metering_service.store import events as store
from metering_service.store.unit import MeteringUnit

MAX_BATCH_SIZE = 10_000
# Batches of one stream in the database at once: while one commits, the next is validated,
# COPYed and inserted, so the database and the server's Python work at the same time.
IN_FLIGHT = 2
# A batch's transaction is retried (from the start, same receipt time) when PostgreSQL
# refuses it as a deadlock victim or for a serialization or unique-key race. Batches take
# their row locks in one order, so neither should happen; the retry is the safety net.
MAX_ATTEMPTS = 3
# Events validated (and formatted, converted) between two returns to the event loop. Other
# batches' transactions hold rollup rows from their last statement until their commit, and
# the commit waits for the loop: long stretches of Python would hold them all back.
CHUNK = 500
_RETRIED_SQLSTATES = frozenset({"40P01", "40001", "23505"})
_event_name = operator.attrgetter("event_name")


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


class IngestedBatch(NamedTuple):
    """The outcome of a batch, in bulk: accepted events, the common case, cost no object of their own.

    ``events[i]`` is event i as validated (None if refused). Every event without an entry
    in ``exceptions`` was ACCEPTED: stored by this batch, received at ``received_at`` (or,
    for a customer on a test clock, at the event's ``clock_received_at``: I-18).
    ``exceptions`` holds the DUPLICATE and REJECTED outcomes by position, in position order.
    """

    received_at: datetime
    events: list[MeterEvent | None]
    exceptions: dict[int, EventOutcome]

    def outcome(self, index: int) -> EventOutcome:
        outcome = self.exceptions.get(index)
        if outcome is not None:
            return outcome
        event = self.events[index]
        assert event is not None
        received_at = event.clock_received_at or self.received_at
        stored = store.StoredEvent(event.fingerprint, event.timestamp, received_at, None)
        return EventOutcome(EventStatus.ACCEPTED, event.identifier, event, stored)

    def counts(self) -> tuple[int, int, int]:
        """ACCEPTED, DUPLICATE and REJECTED events."""
        duplicates = sum(1 for outcome in self.exceptions.values() if outcome.status is EventStatus.DUPLICATE)
        return len(self.events) - len(self.exceptions), duplicates, len(self.exceptions) - duplicates


class Ingestion:
    def __init__(self, database: Database, clock: Clock, error_reports: ErrorReports) -> None:
        self._database = database
        self._clock = clock
        self._error_reports = error_reports

    async def ingest_batch(self, inputs: Sequence[EventInput]) -> IngestedBatch:
        """A client's batch (M-15): at most 10,000 events, else BATCH_TOO_LARGE and nothing stored."""
        check_batch_size(inputs)
        return await self.ingest_bulk(inputs, path="batch")

    async def ingest(self, inputs: Sequence[EventInput]) -> list[EventOutcome]:
        """:meth:`ingest_bulk` of single events committed together, one outcome per event, in order."""
        batch = await self.ingest_bulk(inputs, path="single")
        return [batch.outcome(index) for index in range(len(inputs))]

    async def ingest_bulk(
        self, inputs: Sequence[EventInput], *, turn: Turn | None = None, path: str = "stream"
    ) -> IngestedBatch:
        """Validate and store a batch (M-13, M-15).

        Valid events are stored even when others are refused. Within the batch the first
        occurrence of an identifier is the one stored; later ones, like replays of stored
        events, are duplicates or EVENT_IDENTIFIER_CONFLICT. ``turn`` orders the batch's
        receipt after the previous batch of its stream (:class:`StreamIngestion`). Once
        stored, the batch's size and its events' outcomes are counted by ``path`` (O-4).
        """
        received_at = self._clock.now()
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    batch = await self._ingest_once(inputs, received_at, turn)
                    _count(path, len(inputs), batch.exceptions)
                    return batch
                except Exception as error:
                    if attempt == MAX_ATTEMPTS or _sqlstate(error) not in _RETRIED_SQLSTATES:
                        raise
                # A retried batch is received after the batches that passed it meanwhile.
                if turn is not None:
                    turn.release()
                turn = None
            raise AssertionError("unreachable")
        finally:
            if turn is not None:
                turn.release()

    async def _ingest_once(
        self, inputs: Sequence[EventInput], received_at: datetime, turn: Turn | None
    ) -> IngestedBatch:
        events: list[MeterEvent | None] = [None] * len(inputs)
        exceptions: dict[int, EventOutcome] = {}
        first: dict[tuple[str, str], int] = {}
        repeats: list[int] = []
        async with self._database.unit_of_work() as uow:
            meters = await uow.meters.by_event_name(_nameable(inputs))
            meter_of = meters.get
            clock_times = await uow.test_clocks.clock_times(_customers(inputs, meters))
            staged: list[store.StagedEvent] = []
            for start in range(0, len(inputs), CHUNK):
                if start:
                    await asyncio.sleep(0)  # let the other batches' statements and commits go on
                for index in range(start, min(start + CHUNK, len(inputs))):
                    item = inputs[index]
                    try:
                        event = validate_event(meter_of, item, received_at, clock_times)
                    except DomainError as error:
                        exceptions[index] = EventOutcome(EventStatus.REJECTED, item.identifier, error=error)
                        continue
                    events[index] = event
                    key = (event.meter_id, event.identifier)
                    if key in first:
                        repeats.append(index)
                    else:
                        first[key] = index
                        staged.append(store.StagedEvent(index, meters[item.event_name], event))
            existing: dict[int, store.StoredEvent] = {}
            if staged:
                existing = await uow.events.insert(staged, received_at, in_turn=turn)
            await uow.commit()
        for index, stored in existing.items():
            exceptions[index] = _replayed(events[index], stored)  # type: ignore[arg-type]
        for index in repeats:
            event = events[index]
            assert event is not None
            original = first[(event.meter_id, event.identifier)]
            stored = existing.get(original)
            if stored is None:
                stored_event = events[original]
                assert stored_event is not None
                stored = store.StoredEvent(
                    stored_event.fingerprint,
                    stored_event.timestamp,
                    stored_event.clock_received_at or received_at,
                    None,
                )
            exceptions[index] = _replayed(event, stored)
        if existing or repeats:
            exceptions = dict(sorted(exceptions.items()))
        if exceptions:
            self._error_reports.count(_refusals(inputs, meters, exceptions))
        return IngestedBatch(received_at, events, exceptions)


_ACCEPTED = METER_EVENTS.labels(EventStatus.ACCEPTED.value, "")
_DUPLICATE = METER_EVENTS.labels(EventStatus.DUPLICATE.value, "")


def _count(path: str, size: int, exceptions: dict[int, EventOutcome]) -> None:
    """O-4: a stored batch's size, and its events accepted, duplicate and rejected (by reason)."""
    METER_EVENT_BATCH_SIZE.labels(path).observe(size)
    duplicates = 0
    rejected: collections.Counter[str] = collections.Counter()
    for outcome in exceptions.values():
        if outcome.status is EventStatus.DUPLICATE or outcome.error is None:
            duplicates += 1
        else:
            rejected[outcome.error.reason] += 1
    if size > len(exceptions):
        _ACCEPTED.inc(size - len(exceptions))
    if duplicates:
        _DUPLICATE.inc(duplicates)
    for reason, count in rejected.items():
        METER_EVENTS.labels(EventStatus.REJECTED.value, reason).inc(count)


def _refusals(
    inputs: Sequence[EventInput], meters: dict[str, Meter], exceptions: dict[int, EventOutcome]
) -> Iterator[Refusal]:
    """The batch's refused events, for its error reports (E-6)."""
    for index, outcome in exceptions.items():
        if outcome.error is not None:
            event_name = inputs[index].event_name
            meter = meters.get(event_name)
            yield Refusal(
                "" if meter is None else meter.id, event_name, outcome.error.reason, outcome.identifier
            )


def _nameable(inputs: Sequence[EventInput]) -> set[str]:
    """The batch's event names that a meter could have (``validate_event`` refuses the others)."""
    names = set(map(_event_name, inputs))  # a batch names few meters: check each name once
    return {name for name in names if len(name) <= MAX_EVENT_NAME_LENGTH and NUL not in name}


def _customers(inputs: Sequence[EventInput], meters: dict[str, Meter]) -> set[str]:
    """The customers the batch's events name, to find those on a test clock (I-18)."""
    customers = set()
    for item in inputs:
        meter = meters.get(item.event_name)
        if meter is not None:
            customer_id = item.payload.get(meter.customer_key)
            if customer_id and len(customer_id) <= MAX_PAYLOAD_VALUE_LENGTH and NUL not in customer_id:
                customers.add(customer_id)
    return customers


def check_batch_size(inputs: Sequence[EventInput], sequence: int | None = None) -> None:
    """At most 10,000 events a batch (M-15), else BATCH_TOO_LARGE (with the stream's sequence)."""
    if len(inputs) > MAX_BATCH_SIZE:
        raise InvalidArgument.for_field(
            "events",
            f"holds {len(inputs)} events; a batch holds at most {MAX_BATCH_SIZE}",
            reason=reasons.BATCH_TOO_LARGE,
            metadata={} if sequence is None else {"sequence": str(sequence)},
        )


def _replayed(event: MeterEvent, stored: store.StoredEvent) -> EventOutcome:
    try:
        check_replay(event, stored.fingerprint, stored.timestamp)
    except AlreadyExists as error:
        return EventOutcome(EventStatus.REJECTED, event.identifier, error=error)
    return EventOutcome(EventStatus.DUPLICATE, event.identifier, event, stored)


def _sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, raw or wrapped by SQLAlchemy."""
    return getattr(error, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", None)


class Turn:
    """A batch's place in its stream's order: entered before the batch draws its receipt
    numbers and claims its identifiers (the COPY and the INSERT of ``EventRepository.insert``),
    it waits until the previous batch of the stream has done both; leaving it, or
    :meth:`release` if the batch never gets there, lets the next batch go."""

    def __init__(self, previous: Turn | None) -> None:
        self._previous = previous
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def release(self) -> None:
        """Let the next batch go once this one's predecessors have gone (it may never have entered)."""
        previous, self._previous = self._previous, None
        if previous is not None and not previous._done.done():
            previous._done.add_done_callback(lambda _: self.release())
        elif not self._done.done():
            self._done.set_result(None)

    async def __aenter__(self) -> None:
        if self._previous is not None:
            # Shielded: a batch cancelled while it waits must not cancel its predecessor's turn.
            await asyncio.shield(self._previous._done)
            self._previous = None  # the chain is not kept alive

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StreamIngestion:
    """The batches of one stream (M-15), up to ``in_flight`` of them in the database at once.

    The next batch is read only while fewer than ``in_flight`` are unanswered, so a slow
    database (or a client that does not read its answers) still holds the client back
    through gRPC flow control, and the server holds at most ``in_flight`` batches per
    stream. Batches are received, and claim identifiers, in the order sent (:class:`Turn`):
    an identifier sent in two batches is stored from the first (M-13), and the latest event
    of a pre-aggregation window or of a ``last`` tie is the one sent last (M-17). Each
    batch is answered after its own commit (M-14), in the order sent; a batch refused as a
    whole (BATCH_TOO_LARGE, a request that cannot be read) ends the stream with its error
    in its turn, after the answers to the batches before it, and no later batch is read.
    """

    def __init__(self, ingestion: Ingestion, in_flight: int = IN_FLIGHT) -> None:
        self._ingestion = ingestion
        self._in_flight = in_flight

    async def run(
        self, batches: AsyncIterator[tuple[int, Sequence[EventInput]]]
    ) -> AsyncIterator[tuple[int, IngestedBatch]]:
        """The answer (sequence, outcome) to each batch of ``batches``, in order."""
        slots = asyncio.Semaphore(self._in_flight)
        started: asyncio.Queue[tuple[int, asyncio.Task[IngestedBatch]] | Exception | None] = asyncio.Queue()
        running: set[asyncio.Task[IngestedBatch]] = set()

        async def read() -> None:
            turn: Turn | None = None
            try:
                while True:
                    await slots.acquire()
                    try:
                        sequence, inputs = await anext(batches)
                    except StopAsyncIteration:
                        break
                    check_batch_size(inputs, sequence)
                    turn = Turn(turn)
                    task = asyncio.create_task(self._ingestion.ingest_bulk(inputs, turn=turn))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    started.put_nowait((sequence, task))
            except Exception as error:  # noqa: BLE001 - raised by the answering side in its turn
                started.put_nowait(error)
            else:
                started.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await started.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                sequence, task = item
                yield sequence, await task
                slots.release()
        finally:
            reader.cancel()
            for task in running:
                task.cancel()
            await asyncio.gather(reader, *running, return_exceptions=True)


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

    async def cancel(self, uow: MeteringUnit, event_name: str, identifier: str) -> CancelledEvent:
        """Cancel an event within 24 h of its receipt (M-16), judged on the customer's test
        clock if it lives on one (I-18); cancelling twice returns it unchanged."""
        meters = await uow.meters.by_event_name([event_name])
        meter = meters.get(event_name)
        row = None if meter is None else await uow.events.get_for_update(meter.id, identifier)
        if meter is None or row is None:
            raise NotFound(
                f"no event {identifier!r} of event_name {event_name!r}",
                reason=reasons.EVENT_NOT_FOUND,
                metadata={"event_name": event_name, "identifier": identifier},
            )
        if row.cancelled_at is not None:
            return CancelledEvent(meter, row)
        # A customer on a test clock cancels in its clock's time, as its events were received (I-18).
        clock_times = await uow.test_clocks.clock_times([row.customer_id])
        now = clock_times.get(row.customer_id) or self._clock.now()
        check_cancellable(row.received_at, now)
        await uow.events.cancel(meter, row, now)
        return CancelledEvent(meter, row._replace(cancelled_at=now))
