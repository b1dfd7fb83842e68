"""Without a recording provider, a call's incoming trace context is its current context
while it runs, unary or streaming, and the calls it makes send it (O-4)."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace

from drawdown import tracing

TRACE_ID, SPAN_ID = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"


class Details:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = "/drawdown.credits.v1.CreditBalanceService/GetCreditBalanceSummary"
        self.invocation_metadata = metadata


def current_ids() -> tuple[int, int]:
    context = trace.get_current_span().get_span_context()
    return context.trace_id, context.span_id


async def handled(handler: grpc.RpcMethodHandler, details: Details) -> grpc.RpcMethodHandler:
    async def continuation(_: Any) -> grpc.RpcMethodHandler:
        return handler

    return await tracing.server_interceptor(trace.NoOpTracerProvider()).intercept_service(
        continuation, details
    )


async def test_the_unconfigured_interceptors_are_not_the_recording_ones_o4() -> None:
    assert tracing.client_interceptors(trace.NoOpTracerProvider()) is None
    unary = grpc.unary_unary_rpc_method_handler(lambda request, context: None)
    # A call without trace context keeps its very handler: nothing wraps it.
    assert await handled(unary, Details((("authorization", "Bearer k"),))) is unary


async def test_a_unary_call_runs_in_its_incoming_context_and_passes_it_on_o4() -> None:
    seen: list[Any] = []

    async def behaviour(request: Any, context: Any) -> str:
        seen.append((current_ids(), dict(tracing.trace_metadata())))
        return "answer"

    handler = await handled(
        grpc.unary_unary_rpc_method_handler(behaviour), Details((("traceparent", TRACEPARENT),))
    )
    assert await handler.unary_unary("request", None) == "answer"
    ((ids, sent),) = seen
    assert ids == (TRACE_ID, SPAN_ID)
    assert sent["traceparent"] == TRACEPARENT
    assert current_ids() == (0, 0) and tracing.trace_metadata() == ()  # detached after the call


async def test_a_streaming_call_runs_in_its_incoming_context_o4() -> None:
    async def behaviour(request: Any, context: Any):
        for n in range(3):
            yield (n, current_ids())

    handler = await handled(
        grpc.unary_stream_rpc_method_handler(behaviour), Details((("traceparent", TRACEPARENT),))
    )
    answers = [answer async for answer in handler.unary_stream("request", None)]
    assert answers == [(n, (TRACE_ID, SPAN_ID)) for n in range(3)]
    assert current_ids() == (0, 0)
