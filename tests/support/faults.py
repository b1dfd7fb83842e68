"""Fault injection on real servers: make chosen calls fail with UNAVAILABLE.

``Faults`` is a server interceptor added to a real service (``start_suite(faults=...)``).
A rule fails the next N calls of a method either *before* the handler runs (nothing
happened) or *after* it ran and committed (the work is done but the answer is lost) —
the two cases a caller's retries and recovery must both survive.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import grpc

When = Literal["before", "after"]


@dataclass
class _Rule:
    when: When
    remaining: int


class Faults(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self._rules: dict[str, list[_Rule]] = defaultdict(list)
        self.served: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.calls_seen = asyncio.Event()

    def fail(self, method: str, *, when: When, times: int = 1) -> None:
        """Fail the next ``times`` calls of ``method`` (``Service/Method`` or full path)."""
        self._rules[_full(method)].append(_Rule(when, times))

    def clear(self) -> None:
        self._rules.clear()

    def _take(self, method: str) -> When | None:
        for rule in self._rules.get(method, []):
            if rule.remaining > 0:
                rule.remaining -= 1
                return rule.when
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method, inner = details.method, handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            when = self._take(method)
            if when == "before":
                self.failed[method] += 1
                await context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault before the call was served")
            response = await inner(request, context)
            self.served[method] += 1
            if when == "after":
                self.failed[method] += 1
                await context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault after the call was served")
            return response

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _full(method: str) -> str:
    if method.startswith("/"):
        return method
    service, name = method.split("/")
    package = {
        "InvoiceCreditService": "credits",
        "CreditGrantService": "credits",
        "CreditBalanceService": "credits",
        "MeterService": "metering",
        "MeterEventService": "metering",
    }[service]
    return f"/drawdown.{package}.v1.{service}/{name}"
