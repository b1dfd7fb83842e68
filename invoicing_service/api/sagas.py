"""Mutating RPCs whose work takes several units of work in turn, on one connection (X-1, X-7).

Finalizing, voiding and paying an invoice, and advancing a test clock, commit a step
before each call to another service, so that a crash or an outage leaves a state a retry
completes. ``Mutations.run`` holds its transaction (and the request id's claim) for the
whole work, so such work must not run inside it: it would hold one pooled connection
while it waits for a second, and under load every call would hold one and wait.

Here the whole RPC runs on one pooled connection, one unit of work after another:

1. calls with the same request id take turns: each holds a session-level advisory lock
   on the request id on its own connection, so a retry that overtakes the first call waits
   for it (on its own connection: it holds no other), then gets its response;
2. a retry of a completed request gets the stored response at once;
3. the saga's steps run, each in a transaction of its own on that connection;
4. the last step runs in ``Mutations.run`` on that connection too, so that its change and
   the request id's response commit together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from google.protobuf.message import Message

from drawdown.clock import Clock
from drawdown.db.idempotency import IdempotencyStore, request_id_reused, validate_request_id
from drawdown.rpc.idempotent import Mutations, request_fingerprint
from invoicing_service.service.billing import Billing
from invoicing_service.service.units import LastStep
from invoicing_service.store.unit import InvoicingUnit, OnConnection

ResponseT = TypeVar("ResponseT", bound=Message)
# What runs the saga's last step under the request id.
Finish = Callable[[LastStep], Awaitable[ResponseT]]


class SagaCall:
    """One RPC's connection: ``billing`` runs every unit of work on it."""

    def __init__(self, billing: Billing, idempotency: IdempotencyStore, clock: Clock) -> None:
        assert isinstance(billing.database, OnConnection), "a saga runs on one connection"
        self.billing = billing
        self._connection = billing.database
        self._mutations = Mutations(billing.database, idempotency, clock)  # type: ignore[arg-type]
        self._session_locks = False

    def takes_session_locks(self) -> None:
        """The call takes session-level advisory locks on its connection (a test clock's
        lease): every one is released before the connection goes back to the pool."""
        self._session_locks = True

    async def release_session_locks(self) -> None:
        if self._session_locks:
            await self._connection.unlock_all()  # a lost connection took its locks with it

    async def run(
        self,
        operation: str,
        request: Message,
        response_type: type[ResponseT],
        saga: Callable[[Finish[ResponseT]], Awaitable[ResponseT]],
        respond: Callable[[Any], ResponseT],
    ) -> ResponseT:
        """The stored response of a completed retry, else ``saga(finish)``: the saga runs
        its steps and hands its last one to ``finish``, which runs it under the request id
        and turns its result into the response with ``respond``."""

        async def finish(complete: LastStep) -> ResponseT:
            async def work(uow: InvoicingUnit) -> ResponseT:
                return respond(await complete(uow))

            return await self._mutations.run(operation, request, response_type, work)

        request_id: str = getattr(request, "request_id", "")
        if not request_id:
            return await saga(finish)
        validate_request_id(request_id)
        self.takes_session_locks()  # released when the call ends, however it ends
        await self._connection.lock(f"drawdown.request:{operation}:{request_id}")
        stored = await self._replayed(operation, request, response_type)
        if stored is not None:
            return stored
        return await saga(finish)

    async def _replayed(
        self, operation: str, request: Message, response_type: type[ResponseT]
    ) -> ResponseT | None:
        request_id: str = request.request_id  # type: ignore[attr-defined]
        async with self.billing.database.unit_of_work() as uow:
            stored = await uow.requests.stored_response(operation, request_id)
        if stored is None:
            return None
        fingerprint, response = stored
        if fingerprint != request_fingerprint(request):
            raise request_id_reused(operation, request_id)
        return response_type.FromString(response)


class Sagas:
    def __init__(self, billing: Billing, idempotency: IdempotencyStore, clock: Clock) -> None:
        self._billing = billing
        self._idempotency = idempotency
        self._clock = clock

    @asynccontextmanager
    async def call(self) -> AsyncIterator[SagaCall]:
        """One pooled connection for the whole RPC, given back without session locks."""
        async with self._billing.one_connection() as billing:
            call = SagaCall(billing, self._idempotency, self._clock)
            try:
                yield call
            finally:
                await call.release_session_locks()
