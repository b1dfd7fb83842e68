"""Group commit of single events (M-14): one transaction per group, isolation of failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from metering_service.domain.events import EventInput
from metering_service.service.events import EventOutcome, EventStatus, GroupCommit, Ingestion


class RecordingIngestion(Ingestion):
    """Answers every event ACCEPTED, records the groups, and fails any group holding ``poison``."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()

    async def ingest(self, inputs: Sequence[EventInput]) -> list[EventOutcome]:
        self.groups.append([item.identifier for item in inputs])
        await self.release.wait()
        if any(item.identifier == "poison" for item in inputs):
            raise RuntimeError("the database refused the group")
        return [EventOutcome(EventStatus.ACCEPTED, item.identifier) for item in inputs]


def _event(identifier: str) -> EventInput:
    return EventInput("tokens", {"customer_id": "cus_jenny", "value": "1"}, identifier)


async def test_concurrent_calls_share_one_transaction_and_each_gets_its_own_outcome() -> None:
    ingestion = RecordingIngestion()
    group_commit = GroupCommit(ingestion)
    writer = asyncio.create_task(group_commit.run())
    first = asyncio.create_task(group_commit.submit(_event("first")))
    while not ingestion.groups:  # the writer has taken "first" and waits on the database
        await asyncio.sleep(0)
    rest = [asyncio.create_task(group_commit.submit(_event(f"e{i}"))) for i in range(5)]
    await asyncio.sleep(0)
    ingestion.release.set()
    outcomes = await asyncio.gather(first, *rest)
    writer.cancel()
    assert [outcome.identifier for outcome in outcomes] == ["first", "e0", "e1", "e2", "e3", "e4"]
    assert ingestion.groups == [["first"], ["e0", "e1", "e2", "e3", "e4"]]


async def test_a_failing_group_is_retried_one_by_one_so_only_the_bad_event_fails() -> None:
    ingestion = RecordingIngestion()
    ingestion.release.set()
    group_commit = GroupCommit(ingestion)
    calls = [asyncio.create_task(group_commit.submit(_event(name))) for name in ("a", "poison", "b")]
    await asyncio.sleep(0)
    writer = asyncio.create_task(group_commit.run())
    results = await asyncio.gather(*calls, return_exceptions=True)
    writer.cancel()
    assert ingestion.groups[0] == ["a", "poison", "b"]
    assert [r.identifier if isinstance(r, EventOutcome) else type(r) for r in results] == [
        "a",
        RuntimeError,
        "b",
    ]
