"""The request_id idempotency store against PostgreSQL (X-1)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from drawdown.db.engine import Database
from drawdown.db.idempotency import IdempotencyStore, fingerprint
from drawdown.errors import AlreadyExists, InvalidArgument
from metering_service.store.schema import idempotency_keys

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str):
    db = Database(database_url, pool_size=4)
    yield db
    await db.dispose()


async def _call(db: Database, store: IdempotencyStore, request: bytes, work_done: list[bytes]) -> bytes:
    async with db.unit_of_work() as uow:
        replay = await store.claim(uow.session, "CreateMeter", "req-1", fingerprint(request), NOW)
        if replay is not None:
            return replay
        response = b"response-for-" + request
        work_done.append(response)
        await store.complete(uow.session, "CreateMeter", "req-1", response)
        await uow.commit()
        return response


async def test_retry_returns_the_first_response_and_does_the_work_once(database: Database) -> None:
    store, work = IdempotencyStore(idempotency_keys), []
    first = await _call(database, store, b"a", work)
    assert await _call(database, store, b"a", work) == first
    assert work == [first]


async def test_concurrent_calls_with_one_request_id_do_the_work_once(database: Database) -> None:
    store, work = IdempotencyStore(idempotency_keys), []
    results = await asyncio.gather(*(_call(database, store, b"a", work) for _ in range(4)))
    assert len(set(results)) == 1 and len(work) == 1


async def test_same_request_id_with_a_different_request_is_refused(database: Database) -> None:
    store = IdempotencyStore(idempotency_keys)
    await _call(database, store, b"a", [])
    with pytest.raises(AlreadyExists) as raised:
        await _call(database, store, b"b", [])
    assert raised.value.reason == "REQUEST_ID_REUSED"


async def test_rolled_back_claim_leaves_the_id_free(database: Database) -> None:
    store, work = IdempotencyStore(idempotency_keys), []
    async with database.unit_of_work() as uow:
        assert await store.claim(uow.session, "CreateMeter", "req-1", fingerprint(b"a"), NOW) is None
        # no commit: the work failed
    assert await _call(database, store, b"a", work) == b"response-for-a"


async def test_overlong_request_id_is_invalid(database: Database) -> None:
    store = IdempotencyStore(idempotency_keys)
    async with database.unit_of_work() as uow:
        with pytest.raises(InvalidArgument):
            await store.claim(uow.session, "CreateMeter", "x" * 256, fingerprint(b"a"), NOW)


async def test_mutations_replay_a_proto_response_and_ignore_the_request_id_in_the_fingerprint(
    database: Database,
) -> None:
    from drawdown.clock import FrozenClock
    from drawdown.metering.v1 import meter_pb2, meter_service_pb2
    from drawdown.rpc.idempotent import Mutations, request_fingerprint

    mutations = Mutations(database, IdempotencyStore(idempotency_keys), FrozenClock(NOW))
    calls = []

    async def work(uow):
        calls.append(1)
        return meter_service_pb2.CreateMeterResponse(meter=meter_pb2.Meter(id=f"mtr_{len(calls)}"))

    request = meter_service_pb2.CreateMeterRequest(request_id="r1")
    first = await mutations.run("CreateMeter", request, meter_service_pb2.CreateMeterResponse, work)
    again = await mutations.run("CreateMeter", request, meter_service_pb2.CreateMeterResponse, work)
    assert first == again and len(calls) == 1
    assert request_fingerprint(request) == request_fingerprint(
        meter_service_pb2.CreateMeterRequest(request_id="r2")
    )


async def test_pruning_forgets_old_request_ids_but_those_of_money_movements_o6(database: Database) -> None:
    store = IdempotencyStore(idempotency_keys)
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    claims = [
        ("CreateMeter", "old", old),
        ("CreateMeter", "recent", recent),
        ("ApplyInvoiceCredits", "old", old),
    ]
    claims += [("UpdateMeter", f"old-{n}", old) for n in range(5)]
    for operation, request_id, at in claims:
        async with database.unit_of_work() as uow:
            assert await store.claim(uow.session, operation, request_id, fingerprint(b"x"), at) is None
            await store.complete(uow.session, operation, request_id, b"done")
            await uow.commit()

    forgotten = await store.prune(database, NOW - timedelta(days=30), keep={"ApplyInvoiceCredits"}, batch=2)

    assert forgotten == 6
    async with database.reading() as db:
        rows = await db.fetch(f"SELECT operation, request_id FROM {idempotency_keys.fullname} ORDER BY 1, 2")
    assert [(row.operation, row.request_id) for row in rows] == [
        ("ApplyInvoiceCredits", "old"),
        ("CreateMeter", "recent"),
    ]
    async with database.unit_of_work() as uow:  # a forgotten id is a new request again
        assert await store.claim(uow.session, "CreateMeter", "old", fingerprint(b"y"), NOW) is None
