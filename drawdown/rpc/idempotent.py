"""Running a mutating RPC exactly once per request id (X-1).

``Mutations.run`` opens the unit of work, replays the stored response when the request
id was seen before (or refuses it when reused for a different request), otherwise does
the work and stores its response in the same transaction, so the effect and its
idempotency record commit together or not at all. The request id is also the one the
events of the call carry (``drawdown.events.outbox.current_request_id``; each RPC is a
task of its own, so setting it lasts for the call). ``run_raw`` does the same on a raw
pooled transaction (hot paths), and ``run_batch`` for every entry of a batch call at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from drawdown.clock import Clock
from drawdown.db.engine import Database, Transaction, UnitOfWork
from drawdown.db.idempotency import (
    Claimed,
    IdempotencyStore,
    fingerprint,
    request_id_reused,
    validate_request_id,
)
from drawdown.errors import AlreadyExists, DomainError, for_batch_entry
from drawdown.events.outbox import current_request_id

ResponseT = TypeVar("ResponseT", bound=Message)
RequestT = TypeVar("RequestT", bound=Message)


@dataclass(frozen=True)
class BatchEntry(Generic[RequestT]):
    """An entry of a batch that is not a replay: its position and request, and, when its
    request_id was used for another request, the REQUEST_ID_REUSED error (the work may
    answer such an entry otherwise, as ApplyInvoiceCredits does for an applied invoice,
    or raise it)."""

    index: int
    request: RequestT
    reused: AlreadyExists | None = None

    def error(self, error: DomainError) -> DomainError:
        """``error`` (raised for this entry) named by the entry: ``requests[index]``."""
        return for_batch_entry(error, self.index)


def request_fingerprint(request: Message) -> bytes:
    """The request's digest without its request_id (a retry may differ only there)."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return fingerprint(copy.SerializeToString(deterministic=True))


class Mutations:
    """One per service: its database, its idempotency table and its clock."""

    def __init__(self, database: Database, idempotency: IdempotencyStore, clock: Clock) -> None:
        self._database = database
        self._idempotency = idempotency
        self._clock = clock

    async def run(
        self,
        operation: str,
        request: Message,
        response_type: type[ResponseT],
        work: Callable[[UnitOfWork], Awaitable[ResponseT]],
        *,
        replayed_as: Callable[[ResponseT], ResponseT] | None = None,
    ) -> ResponseT:
        """Do ``work`` in one transaction, at most once per ``request.request_id``.

        A retry gets the response back, or ``replayed_as(response)`` when given: the
        response without what must not be stored (a key's token)."""
        request_id: str = getattr(request, "request_id", "")
        current_request_id.set(request_id)
        async with self._database.unit_of_work() as uow:
            if request_id:
                stored = await self._idempotency.claim(
                    uow.session, operation, request_id, request_fingerprint(request), self._clock.now()
                )
                if stored is not None:
                    return response_type.FromString(stored)
            response = await work(uow)
            if request_id:
                stored = response if replayed_as is None else replayed_as(response)
                await self._idempotency.complete(
                    uow.session, operation, request_id, stored.SerializeToString(deterministic=True)
                )
            await uow.commit()
            return response

    async def run_raw(
        self,
        operation: str,
        request: Message,
        response_type: type[ResponseT],
        work: Callable[[Transaction], Awaitable[ResponseT]],
    ) -> ResponseT:
        """``run`` on a raw pooled connection (``Database.transaction``), for hot paths
        whose work sends only constant SQL: the same claim, replay and commit, in fewer
        round trips. The claim travels with the work's first statements, which must be
        harmless to roll back (reads and locks) since they run before a replay is known."""
        request_id: str = getattr(request, "request_id", "")
        current_request_id.set(request_id)
        fingerprint = request_fingerprint(request) if request_id else b""
        async with self._database.transaction() as tx:
            try:
                if request_id:
                    self._idempotency.claim_ahead(tx, operation, request_id, fingerprint, self._clock.now())
                response = await work(tx)
                if request_id:
                    await self._idempotency.complete(
                        tx, operation, request_id, response.SerializeToString(deterministic=True)
                    )
                await tx.commit()
                return response
            except Claimed:
                stored = await self._idempotency.replay(tx, operation, request_id, fingerprint)
                return response_type.FromString(stored)

    async def run_batch(
        self,
        operation: str,
        requests: Sequence[RequestT],
        response_type: type[ResponseT],
        work: Callable[[Transaction, Sequence[BatchEntry[RequestT]]], Awaitable[Sequence[ResponseT]]],
    ) -> list[ResponseT]:
        """``run_raw`` for every entry of a batch, in one transaction: each entry's request_id
        is claimed as by ``operation`` alone (so a batch entry and a single call replay
        each other), replayed entries get their stored response, and ``work`` gets the
        others (in request order) and returns their responses in the same order. All
        commit together or nothing does. Errors name the entry (``requests[i]``).

        An entry repeating an earlier entry's request_id is that entry's retry: the same
        request gets the same response, another request REQUEST_ID_REUSED.
        """
        fingerprints = [request_fingerprint(request) for request in requests]
        first_of: dict[str, int] = {}
        for index, request in enumerate(requests):
            request_id: str = getattr(request, "request_id", "")
            try:
                validate_request_id(request_id)
            except DomainError as error:
                raise for_batch_entry(error, index) from None
            if request_id:
                first_of.setdefault(request_id, index)
        async with self._database.transaction() as tx:
            claims = await self._idempotency.claim_many(
                tx,
                operation,
                {request_id: fingerprints[index] for request_id, index in first_of.items()},
                self._clock.now(),
            )
            responses: list[ResponseT | None] = [None] * len(requests)
            pending: list[BatchEntry[RequestT]] = []
            repeats: dict[int, int] = {}
            for index, request in enumerate(requests):
                request_id = getattr(request, "request_id", "")
                first = first_of.get(request_id, index)
                if first != index:
                    if fingerprints[first] == fingerprints[index]:
                        repeats[index] = first
                    else:
                        pending.append(BatchEntry(index, request, request_id_reused(operation, request_id)))
                    continue
                claim = claims.get(request_id)
                if claim is not None and claim.replay is not None:
                    responses[index] = response_type.FromString(claim.replay)
                else:
                    pending.append(BatchEntry(index, request, claim.reused if claim is not None else None))
            done = await work(tx, pending) if pending else []
            completed: dict[str, bytes] = {}
            for entry, response in zip(pending, done, strict=True):
                responses[entry.index] = response
                request_id = getattr(entry.request, "request_id", "")
                if request_id and entry.reused is None:
                    completed[request_id] = response.SerializeToString(deterministic=True)
            for index, first in repeats.items():
                responses[index] = responses[first]
            await self._idempotency.complete_many(tx, operation, completed)
            await tx.commit()
        assert all(response is not None for response in responses)
        return responses  # type: ignore[return-value]
