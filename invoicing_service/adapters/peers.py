"""What every call to metering and credits shares: deadlines, batching, and what a peer's
failure means here.

Every call carries the service key, a timeout (``drawdown.deadlines.Deadline``: what is
left of the caller's deadline, at most a cap) and, when it changes anything, a request id
(X-1); the channel retries UNAVAILABLE only. Failures become errors by what they mean
(X-8): only a peer's UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED (it shut down
mid-call) is transient, and becomes
``Unavailable`` ``<SERVICE>_SERVICE_UNAVAILABLE`` (retry later); a peer's NOT_FOUND /
FAILED_PRECONDITION / INVALID_ARGUMENT / ALREADY_EXISTS / ABORTED / RESOURCE_EXHAUSTED keeps
its kind and reason; anything else (INTERNAL, UNKNOWN, UNIMPLEMENTED, a refused key ...)
would fail again and is ``PeerFailure``, which the RPC answers as INTERNAL with a generic
message, logged with the peer's code and message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from types import ModuleType
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown import errors
from drawdown.deadlines import Deadline
from drawdown.rpc.convert import timestamp_to_proto
from invoicing_service.domain import reasons

# Seconds an outbound call may take at most, whatever the deadline's deadline.
READ_CAP = 5.0
WRITE_CAP = 10.0
# The most customers one SetTestClockTime takes (its contract's limit).
MAX_CLOCK_CUSTOMERS = 1000

Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")

log = structlog.get_logger("drawdown.invoicing.downstream")

# the only codes that say "try again later": the peer is down, did not answer in
# time, or cancelled the call as it shut down; the channel has already retried UNAVAILABLE.
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
_PASSED_THROUGH: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
}


# The reasons naming each peer: it cannot be reached (retry later), or it failed.
UNAVAILABLE_REASONS = {
    "metering": reasons.METERING_SERVICE_UNAVAILABLE,
    "credits": reasons.CREDITS_SERVICE_UNAVAILABLE,
}
FAILURE_REASONS = {"metering": reasons.METERING_SERVICE_ERROR, "credits": reasons.CREDITS_SERVICE_ERROR}


class PeerFailure(Exception):
    """A peer failed in a way a retry would not fix (INTERNAL, UNKNOWN, UNIMPLEMENTED, a
    refused service key ...). Not a domain error: the RPC answers INTERNAL, "internal
    error; it has been logged", and never "retry later" (X-8). ``reason`` names the peer
    (``CREDITS_SERVICE_ERROR``), for the log and for a billing error set aside (X-6)."""

    def __init__(self, service: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"the {service} service failed: {code.name}: {details[:200]}")
        self.service = service
        self.code = code
        self.reason = FAILURE_REASONS[service]
        self.message = f"the {service} service answered {code.name}"
        self.metadata = {"code": code.name}


# A peer's answer to a call it does not serve: it predates the RPC (TestClockTimeService
# during a rolling upgrade).
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


@asynccontextmanager
async def translated(service: str) -> AsyncIterator[None]:
    """A failed call to ``service`` as the error it means here (X-8)."""
    try:
        yield
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if code in _PASSED_THROUGH:
            info = _error_info(error)
            raise _PASSED_THROUGH[code](
                (error.details() or code.name)[:1000],
                reason=info.reason if info else None,
                metadata=dict(info.metadata) if info else None,
            ) from None
        if code in _TRANSIENT:
            raise errors.Unavailable(
                f"the {service} service is unavailable ({code.name}); nothing changed, retry later",
                reason=UNAVAILABLE_REASONS[service],
            ) from None
        log.error("downstream.failed", service=service, code=code.name, details=(error.details() or "")[:200])
        raise PeerFailure(service, code, error.details() or "") from None


async def one_or_batches(
    requests: Sequence[Message],
    single: Callable[..., Awaitable[Any]],
    batch: Callable[..., Awaitable[Any]],
    batch_request: Callable[..., Message],
    batch_size: int,
    timeout: float,
    metadata: Metadata,
) -> list[Any]:
    """The responses to ``requests``, in order: one ``single`` call for one request,
    ``batch`` calls of at most ``batch_size`` for more (each atomic on the server)."""
    if len(requests) == 1:
        return [await single(requests[0], metadata=metadata, timeout=timeout)]
    responses: list[Any] = []
    for chunk in chunks(requests, batch_size):
        reply = await batch(batch_request(requests=chunk), metadata=metadata, timeout=timeout)
        responses.extend(reply.responses)
    return responses


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def all_of(calls: Iterable[Awaitable[None]]) -> None:
    """Run the calls at once, wait for every one, then raise the first failure (so no call
    is left running when the deadline moves on)."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


class TestClockTimes:
    """One peer's TestClockTimeService (I-18); metering and credits serve the same one.

    A peer that does not serve it yet (UNIMPLEMENTED: it predates I-18) is logged and
    skipped, and then judges the clock's customers by the wall clock as before."""

    def __init__(self, service: str, stub: Any, messages: ModuleType, metadata: Metadata) -> None:
        self._service = service
        self._stub = stub
        self._messages = messages
        self._metadata = metadata

    async def set(
        self,
        clock_id: str,
        frozen_time: datetime,
        customer_ids: Sequence[str],
        request_id: str,
        deadline: Deadline,
    ) -> None:
        """A test clock's frozen time, with customers to attach: calls of at most 1,000
        customers each, at once, each with a request id derived from ``request_id``."""
        parts = list(chunks(list(customer_ids), MAX_CLOCK_CUSTOMERS)) or [[]]
        await all_of(
            self._call(
                self._stub.SetTestClockTime,
                self._messages.SetTestClockTimeRequest(
                    test_clock_id=clock_id,
                    frozen_time=timestamp_to_proto(frozen_time),
                    customer_ids=list(part),
                    request_id=request_id if len(parts) == 1 else f"{request_id}:{index}",
                ),
                deadline,
            )
            for index, part in enumerate(parts)
        )

    async def delete(self, clock_id: str, request_id: str, deadline: Deadline) -> None:
        """A test clock is deleted: its customers are judged by the wall clock again."""
        await self._call(
            self._stub.DeleteTestClockTime,
            self._messages.DeleteTestClockTimeRequest(test_clock_id=clock_id, request_id=request_id),
            deadline,
        )

    async def _call(
        self, method: Callable[..., Awaitable[Any]], request: Message, deadline: Deadline
    ) -> None:
        async with translated(self._service):
            try:
                await method(request, metadata=self._metadata, timeout=deadline.timeout(WRITE_CAP))
            except grpc.aio.AioRpcError as error:
                if error.code() is not UNIMPLEMENTED:
                    raise
                log.warning("downstream.test_clock_time_unimplemented", service=self._service)
