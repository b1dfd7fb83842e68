"""Running a mutating RPC exactly once per request id (SPEC X-1).

``Mutations.run`` opens the unit of work, replays the stored response when the request
id was seen before (or refuses it when reused for a different request), otherwise does
the work and stores its response in the same transaction, so the effect and its
idempotency record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from drawdown.clock import Clock
from drawdown.db.engine import Database, UnitOfWork
from drawdown.db.idempotency import IdempotencyStore, fingerprint

ResponseT = TypeVar("ResponseT", bound=Message)


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
    ) -> ResponseT:
        """Do ``work`` in one transaction, at most once per ``request.request_id``."""
        request_id: str = getattr(request, "request_id", "")
        async with self._database.unit_of_work() as uow:
            if request_id:
                stored = await self._idempotency.claim(
                    uow.session, operation, request_id, request_fingerprint(request), self._clock.now()
                )
                if stored is not None:
                    return response_type.FromString(stored)
            response = await work(uow)
            if request_id:
                await self._idempotency.complete(
                    uow.session, operation, request_id, response.SerializeToString(deterministic=True)
                )
            await uow.commit()
            return response
