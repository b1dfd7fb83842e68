"""A stream's batches in the database at once (M-14, M-15): order, flow control, receipt turns, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from drawdown.clock import FrozenClock
from metering_service.domain.events import EventInput
from metering_service.service.error_reports import ErrorReports
from metering_service.service.events import (
    IngestedBatch,
    Ingestion,
    StreamIngestion,
    Turn,
)

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def _batch(name: str, size: int = 1) -> list[EventInput]:
    return [
        EventInput("tokens", {"customer_id": "cus_jenny", "value": "1"}, f"{name}-{i}") for i in range(size)
    ]


class HeldIngestion(Ingestion):
    """Starts every batch at once and finishes each when the test releases it."""

    def __init__(self) -> None:
        clock = FrozenClock(NOW)
        super().__init__(database=None, clock=clock, error_reports=ErrorReports(None, clock))  # type: ignore[arg-type]
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()

    async def ingest_bulk(self, inputs: Sequence[EventInput], *, turn: Turn | None = None) -> IngestedBatch:
        name = inputs[0].identifier.split("-")[0]
        self.release[name] = release = asyncio.Event()
        self.started.append(name)
        self.changed.set()
        try:
            await release.wait()
        finally:
            if turn is not None:
                turn.release()
        return IngestedBatch(NOW, [None] * len(inputs), {})

    async def started_count(self, count: int) -> None:
        while len(self.started) < count:
            self.changed.clear()
            await self.changed.wait()


class Client:
    """The request side of a stream: batches as the server reads them, counted."""

    def __init__(self, batches: list[tuple[int, list[EventInput]]]) -> None:
        self.batches = batches
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[tuple[int, list[EventInput]]]:
        for batch in self.batches:
            self.read += 1
            yield batch


async def _settle() -> None:
    """Give every ready task its turn (to show that something does not happen)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_m15_batches_overlap_but_are_answered_in_order_and_reading_stops_at_the_limit() -> None:
    ingestion = HeldIngestion()
    client = Client([(sequence, _batch(f"b{sequence}")) for sequence in range(1, 6)])
    answers = StreamIngestion(ingestion, in_flight=2).run(client.__aiter__())
    first = asyncio.create_task(anext(answers))
    await ingestion.started_count(2)
    await _settle()
    # Two batches in the database at once, and nothing more read from the client meanwhile.
    assert ingestion.started == ["b1", "b2"] and client.read == 2
    ingestion.release["b2"].set()  # the second finishes first ...
    await _settle()
    assert not first.done()  # ... but is not answered before the first
    ingestion.release["b1"].set()
    assert (await first)[0] == 1
    assert (await anext(answers))[0] == 2
    # A slot frees when an answer has been taken: the client is one answer further.
    await ingestion.started_count(3)
    assert ingestion.started == ["b1", "b2", "b3"] and client.read == 3
    rest: list[int] = []

    async def drain() -> None:
        async for sequence, _ in answers:
            rest.append(sequence)

    drainer = asyncio.create_task(drain())
    for number in (3, 4, 5):
        await ingestion.started_count(number)
        ingestion.release[f"b{number}"].set()
    await drainer
    assert rest == [3, 4, 5]


async def test_m15_a_batch_too_large_ends_the_stream_after_the_answers_before_it() -> None:
    ingestion = HeldIngestion()
    client = Client([(1, _batch("b1")), (2, _batch("big", 10_001)), (3, _batch("b3"))])
    answers = StreamIngestion(ingestion, in_flight=2).run(client.__aiter__())
    first = asyncio.create_task(anext(answers))
    await ingestion.started_count(1)
    ingestion.release["b1"].set()
    assert (await first)[0] == 1
    with pytest.raises(Exception, match="at most 10000") as raised:
        await anext(answers)
    assert getattr(raised.value, "reason", None) == "BATCH_TOO_LARGE"
    assert ingestion.started == ["b1"]  # the batch after it was never read into the database


async def test_m17_turns_let_batches_draw_receipt_order_in_the_order_sent() -> None:
    entered: list[int] = []
    first = Turn(None)
    second = Turn(first)
    third = Turn(second)

    async def draw(number: int, turn: Turn) -> None:
        async with turn:
            entered.append(number)

    later = [asyncio.create_task(draw(3, third)), asyncio.create_task(draw(2, second))]
    await _settle()
    assert entered == []  # both wait for the first batch
    await draw(1, first)
    await asyncio.gather(*later)
    assert entered == [1, 2, 3]


async def test_m17_a_batch_that_never_draws_still_lets_the_next_go_after_its_predecessor() -> None:
    entered: list[int] = []
    first = Turn(None)
    skipped = Turn(first)  # every event of this batch was refused: it stores nothing
    third = Turn(skipped)

    async def draw(number: int, turn: Turn) -> None:
        async with turn:
            entered.append(number)

    skipped.release()
    waiting = asyncio.create_task(draw(3, third))
    await _settle()
    assert entered == []  # the first batch has not drawn yet
    await draw(1, first)
    await waiting
    assert entered == [1, 3]


class DeadlockOnce(Ingestion):
    """Fails the first attempt as PostgreSQL does a deadlock victim (or with ``sqlstate``)."""

    def __init__(self, sqlstate: str) -> None:
        clock = FrozenClock(NOW)
        super().__init__(database=None, clock=clock, error_reports=ErrorReports(None, clock))  # type: ignore[arg-type]
        self.sqlstate = sqlstate
        self.attempts = 0

    async def _ingest_once(
        self, inputs: Sequence[EventInput], received_at: datetime, turn: Turn | None
    ) -> IngestedBatch:
        self.attempts += 1
        if self.attempts == 1:
            error = RuntimeError("deadlock detected")
            error.sqlstate = self.sqlstate  # type: ignore[attr-defined]
            raise error
        return IngestedBatch(received_at, [None] * len(inputs), {})


async def test_a_deadlock_victim_batch_is_retried_and_releases_its_turn() -> None:
    ingestion = DeadlockOnce("40P01")
    turn = Turn(None)
    after = Turn(turn)
    batch = await ingestion.ingest_bulk(_batch("b1"), turn=turn)
    assert ingestion.attempts == 2 and batch.received_at == NOW
    async with after:  # does not wait: the retried batch gave its turn up
        pass


async def test_other_database_errors_are_not_retried() -> None:
    ingestion = DeadlockOnce("23502")
    with pytest.raises(RuntimeError):
        await ingestion.ingest_bulk(_batch("b1"))
    assert ingestion.attempts == 1
