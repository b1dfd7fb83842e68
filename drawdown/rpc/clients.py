"""Calls from one Drawdown service to another.

Every outbound call carries the service API key, a deadline of
``min(caller's time remaining, cap)`` (an absent caller deadline reads as ~9e18 s and must
not be passed on), and is retried on UNAVAILABLE only; every cross-service RPC we make
is idempotent or carries a request id, so a retry never does the work twice. A channel
given a tracer provider sends the current trace context with each call (O-4).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import grpc
from opentelemetry import trace

from drawdown import tracing

_RETRY_POLICY = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(_RETRY_POLICY)),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
]


class ServiceChannel:
    """Calls to another Drawdown service over ``connections`` connections, taken in turn,
    each a channel with retries on UNAVAILABLE.

    gRPC keeps a channel's calls on one connection (and shares it among the channels to
    one address), and a service run with ``DRAWDOWN_PROCESSES`` spreads connections, not
    calls, over its processes: over a single connection, every call would reach the same
    process. Stubs take one callable per method from the channel when they are built;
    this channel's callables hand each call to the next connection.
    """

    def __init__(
        self, address: str, connections: int = 1, *, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        options = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
        interceptors = tracing.client_interceptors(tracer_provider) if tracer_provider is not None else None
        self._channels = [
            grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
            for _ in range(connections)
        ]
        self._turns = itertools.cycle(range(connections))
        # Untraced, the calls still carry the caller's trace context, without interceptors.
        self._pass_context = tracer_provider is not None and interceptors is None

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> _InTurn:
        return self._in_turn([c.unary_unary(method, *args, **kwargs) for c in self._channels])

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> _InTurn:
        return self._in_turn([c.unary_stream(method, *args, **kwargs) for c in self._channels])

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> _InTurn:
        return self._in_turn([c.stream_unary(method, *args, **kwargs) for c in self._channels])

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> _InTurn:
        return self._in_turn([c.stream_stream(method, *args, **kwargs) for c in self._channels])

    def _in_turn(self, callables: list[Any]) -> _InTurn:
        return (_InTurnPassingContext if self._pass_context else _InTurn)(callables, self._turns)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


class _InTurn:
    """One method's callables, one per connection; each call goes to the next in turn."""

    def __init__(self, callables: list[Any], turns: Iterator[int]) -> None:
        self._callables = callables
        self._turns = turns

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._callables[next(self._turns)](*args, **kwargs)


class _InTurnPassingContext(_InTurn):
    """``_InTurn`` whose calls carry the current trace context in their metadata (O-4)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        carried = tracing.trace_metadata()
        if carried:
            kwargs["metadata"] = (*(kwargs.get("metadata") or ()), *carried)
        return self._callables[next(self._turns)](*args, **kwargs)


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the service key."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()
