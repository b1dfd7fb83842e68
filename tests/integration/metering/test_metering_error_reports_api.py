"""Error reports of refused meter events (E-6) against a real PostgreSQL: one
``meter.error_report`` per meter or unknown event name and window, with exact counts per
reason and bounded samples, none for accepted traffic and no event row per meter event;
then through the real servers, from every ingestion path, and at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import any_pb2

from drawdown.clock import FrozenClock
from drawdown.db.engine import Database
from drawdown.events.log import EventFilter, EventLog
from drawdown.events.outbox import Outbox
from drawdown.metering.v1 import event_service_pb2 as events_pb
from drawdown.metering.v1 import event_service_pb2_grpc as events_grpc
from drawdown.metering.v1 import meter_error_report_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.rpc.convert import timestamp_from_proto
from metering_service.api.convert import EVENT_DATA
from metering_service.domain.events import EventInput
from metering_service.domain.meters import Aggregation, Meter
from metering_service.service.error_reports import ErrorReports
from metering_service.service.events import Ingestion
from metering_service.service.meters import MeterDraft, MeterUseCases
from metering_service.store.schema import EVENT_TABLES
from metering_service.store.unit import MeteringUnit
from tests.integration.metering.metering_client import JENNY, NOW, Metering, event
from tests.support.harness import bearer, start_suite

MINUTE = timedelta(minutes=1)
ERROR_REPORT = "meter.error_report"
# A report as compared here: (meter id, event name, window start, window end) and, per
# reason, (reason, count, sample identifiers).
Report = tuple[tuple[str, str, datetime, datetime], list[tuple[str, int, list[str]]]]


def report_of(data: bytes | any_pb2.Any) -> Report:
    report = meter_error_report_pb2.MeterErrorReport()
    if isinstance(data, bytes):
        report.ParseFromString(data)
    else:
        assert data.Unpack(report)
    source = (
        report.meter_id,
        report.event_name,
        timestamp_from_proto(report.window.start_time, "window.start_time"),
        timestamp_from_proto(report.window.end_time, "window.end_time"),
    )
    return source, [(r.reason, r.count, list(r.sample_identifiers)) for r in report.reasons]


def payload(identifier: str, event_name: str, value: str | None = "1", customer: str = JENNY) -> EventInput:
    values = {"customer_id": customer} if customer else {}
    if value is not None:
        values["value"] = value
    return EventInput(event_name, values, identifier)


@dataclass
class Store:
    """Metering's use cases on a frozen clock over a migrated database, as a server wires them."""

    database: Database
    clock: FrozenClock
    error_reports: ErrorReports
    ingestion: Ingestion

    async def create_meter(self, event_name: str, *, inactive: bool = False) -> Meter:
        meters = MeterUseCases(self.database, self.clock)
        draft = MeterDraft(event_name, event_name, Aggregation.SUM, "", "", (), None)
        async with self.database.unit_of_work() as uow:
            meter = await meters.create(uow, draft)  # type: ignore[arg-type]
            if inactive:
                meter = await meters.deactivate(uow, meter.id)  # type: ignore[arg-type]
            await uow.commit()
        return meter

    async def reports(self) -> dict[tuple[str, str, datetime, datetime], list[tuple[str, int, list[str]]]]:
        page, _ = await EventLog(self.database, EVENT_TABLES).page(0, EventFilter(types=[ERROR_REPORT]), 100)
        return dict(report_of(stored.data) for stored in page)

    async def event_rows(self) -> int:
        async with self.database.engine.connect() as connection:
            return (await connection.execute(sa.text("SELECT count(*) FROM metering.events"))).scalar_one()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    clock = FrozenClock(NOW)
    database = Database(database_url, pool_size=2, unit_of_work=MeteringUnit)
    database.outboxes = partial(Outbox, EVENT_TABLES, EVENT_DATA, clock.now)
    error_reports = ErrorReports(database, clock)
    yield Store(database, clock, error_reports, Ingestion(database, clock, error_reports))
    await database.dispose()


async def test_e6_a_mixed_batch_is_reported_once_per_meter_and_unknown_name_with_exact_counts(
    store: Store,
) -> None:
    tokens = await store.create_meter("tokens_in")
    requests = await store.create_meter("requests", inactive=True)
    batch = await store.ingestion.ingest_batch(
        [
            payload("ok-1", "tokens_in"),
            payload("ok-2", "tokens_in"),
            *(payload(f"no-customer-{n}", "tokens_in", customer="") for n in range(12)),
            payload("bad-value", "tokens_in", "abc"),
            payload("", "tokens_in", "1e3"),  # refused with no identifier to sample
            payload("ok-1", "tokens_in"),  # a duplicate: not refused
            payload("ok-2", "tokens_in", "2"),  # other content: EVENT_IDENTIFIER_CONFLICT
            payload("req-1", "requests"),
            payload("req-2", "requests"),
            payload("typo-1", "tokens_inn"),
            payload("typo-2", "tokens_inn"),
        ]
    )
    assert batch.counts() == (2, 1, 19)

    assert await store.error_reports.flush_ended(NOW + MINUTE - timedelta(microseconds=1)) == 0
    assert await store.error_reports.flush_ended(NOW + MINUTE) == 3
    assert await store.reports() == {
        (tokens.id, "tokens_in", NOW, NOW + MINUTE): [
            ("EVENT_IDENTIFIER_CONFLICT", 1, ["ok-2"]),
            ("INVALID_VALUE", 2, ["bad-value"]),
            ("MISSING_CUSTOMER", 12, [f"no-customer-{n}" for n in range(10)]),
        ],
        (requests.id, "requests", NOW, NOW + MINUTE): [("METER_INACTIVE", 2, ["req-1", "req-2"])],
        ("", "tokens_inn", NOW, NOW + MINUTE): [("UNKNOWN_EVENT_NAME", 2, ["typo-1", "typo-2"])],
    }
    assert await store.error_reports.flush_ended(NOW + 10 * MINUTE) == 0  # each window is written once


async def test_e6_each_window_gets_its_own_reports(store: Store) -> None:
    tokens = await store.create_meter("tokens_in")
    await store.ingestion.ingest_batch([payload("first", "tokens_in", "x"), payload("typo", "tokens_inn")])
    store.clock.advance(MINUTE + timedelta(seconds=30))
    await store.ingestion.ingest_batch(
        [payload("second", "tokens_in", "y"), payload("second", "tokens_in", "z")]
    )

    assert await store.error_reports.flush_ended() == 2  # the first window has ended, the second not
    assert await store.error_reports.flush_ended(NOW + 2 * MINUTE) == 1
    assert await store.reports() == {
        (tokens.id, "tokens_in", NOW, NOW + MINUTE): [("INVALID_VALUE", 1, ["first"])],
        ("", "tokens_inn", NOW, NOW + MINUTE): [("UNKNOWN_EVENT_NAME", 1, ["typo"])],
        (tokens.id, "tokens_in", NOW + MINUTE, NOW + 2 * MINUTE): [("INVALID_VALUE", 2, ["second"])],
    }


async def test_e6_accepted_events_write_no_event_row_and_no_report(store: Store) -> None:
    await store.create_meter("tokens_in")
    rows = await store.event_rows()  # meter.created
    batch = await store.ingestion.ingest_batch([payload(f"e-{n}", "tokens_in") for n in range(500)])
    await store.ingestion.ingest_batch([payload("e-0", "tokens_in")])  # a duplicate
    assert batch.counts() == (500, 0, 0)
    assert await store.error_reports.flush_all() == 0
    assert await store.error_reports.flush_ended(NOW + 10 * MINUTE) == 0
    assert await store.event_rows() == rows


async def test_e6_refusals_of_every_ingestion_path_are_reported_after_their_window(
    metering: Metering, clock: FrozenClock
) -> None:
    auth = bearer(metering.suite.admin_key)
    events = events_grpc.EventServiceStub(metering.suite.channel("metering"))
    reports = events.StreamEvents(
        events_pb.StreamEventsRequest(after_cursor="0", types=[ERROR_REPORT]), metadata=auth
    )
    meter = await metering.create_meter()
    with pytest.raises(grpc.aio.AioRpcError):  # INVALID_VALUE, counted in the report
        await metering.send(event("single", "abc"))
    await metering.batch(
        [event("batched", "1"), event("batched-bad", None), event("typo", event_name="tokens")]
    )
    stream = metering.events.StreamMeterEvents(metadata=metering.metadata)
    await stream.write(
        event_pb.StreamMeterEventsRequest(
            sequence=1, events=[event("streamed", "abc"), event("streamed-ok", "2")]
        )
    )
    reply = await stream.read()
    await stream.done_writing()
    assert (reply.accepted_count, reply.rejected_count) == (1, 1)

    clock.advance(MINUTE)
    received = [await asyncio.wait_for(reports.read(), 30) for _ in range(2)]
    reports.cancel()
    assert {report_of(r.event.data)[0][:2]: report_of(r.event.data)[1] for r in received} == {
        (meter.id, "hypernian_input_tokens"): [
            ("INVALID_VALUE", 2, ["single", "streamed"]),
            ("MISSING_VALUE", 1, ["batched-bad"]),
        ],
        ("", "tokens"): [("UNKNOWN_EVENT_NAME", 1, ["typo"])],
    }
    assert {(r.event.type, r.event.data.type_url) for r in received} == {
        (ERROR_REPORT, "type.googleapis.com/drawdown.metering.v1.MeterErrorReport")
    }
    assert {report_of(r.event.data)[0][2:] for r in received} == {(NOW, NOW + MINUTE)}


async def test_e6_a_stopping_server_writes_the_report_of_the_window_it_is_in(database_url: str) -> None:
    clock = FrozenClock(NOW + timedelta(seconds=20))
    async with start_suite(database_url, clock=clock) as suite:
        metering = Metering(suite, bearer(suite.admin_key))
        meter = await metering.create_meter()
        await metering.batch([event("late", None, event_name=meter.event_name)])
    database = Database(database_url, pool_size=2)
    try:
        page, _ = await EventLog(database, EVENT_TABLES).page(0, EventFilter(types=[ERROR_REPORT]), 10)
    finally:
        await database.dispose()
    assert [report_of(stored.data) for stored in page] == [
        ((meter.id, meter.event_name, NOW, NOW + MINUTE), [("MISSING_VALUE", 1, ["late"])])
    ]
