"""A tiny service on the real runtime, for testing what the runtime itself does.

Its methods take and return raw bytes: ``Fail`` raises a domain error, ``Crash`` a bug,
``Wait`` announces itself on stdout and returns only once shutdown has begun (to prove
that SIGTERM drains in-flight calls), ``Hold`` counts itself in ``HELD`` and returns
once ``RELEASE`` is set. Run as a script it serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc

from drawdown.errors import InvalidArgument
from drawdown.rpc.server import ServiceContext, ServiceDefinition, serve_until_signalled

SERVICE = "drawdown.test.v1.Probe"
HELD: list[int] = []  # how many Hold calls are in the handler, appended at each entry
RELEASE = asyncio.Event()


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    async def fail(request: bytes, call: grpc.aio.ServicerContext) -> bytes:
        raise InvalidArgument.for_field(
            "payload.value", "'abc' is not a decimal number", reason="INVALID_VALUE"
        )

    async def crash(request: bytes, call: grpc.aio.ServicerContext) -> bytes:
        raise RuntimeError("a bug with a secret in its message")

    async def wait(request: bytes, call: grpc.aio.ServicerContext) -> bytes:
        print("in-flight", flush=True)
        await context.shutting_down.wait()
        await asyncio.sleep(0.2)  # still working after shutdown began: the drain must wait for it
        return b"drained"

    async def hold(request: bytes, call: grpc.aio.ServicerContext) -> bytes:
        HELD.append(len(HELD) + 1)
        await RELEASE.wait()
        return b"released"

    handlers = {
        "Hold": grpc.unary_unary_rpc_method_handler(hold),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Wait": grpc.unary_unary_rpc_method_handler(wait),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    return []


DEFINITION = ServiceDefinition(name="probe", migrations=[], register=register)

if __name__ == "__main__":
    from drawdown.logs import configure_logging
    from tests.support.harness import test_settings

    configure_logging("WARNING")
    asyncio.run(
        serve_until_signalled(DEFINITION, test_settings(shutdown_grace_seconds=10), sys.argv[1], port=0)
    )
