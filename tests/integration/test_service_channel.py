"""Outbound calls spread over several connections to one address (DRAWDOWN_PEER_CONNECTIONS)."""

from __future__ import annotations

from collections import Counter

import grpc

from drawdown.rpc.clients import ServiceChannel


async def _peer_echo_server() -> tuple[grpc.aio.Server, str]:
    """A server whose one method answers with the caller's address (one per connection)."""

    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return context.peer().encode()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "probe.Peer", {"Who": grpc.unary_unary_rpc_method_handler(who)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_calls_take_the_connections_in_turn() -> None:
    server, address = await _peer_echo_server()
    channel = ServiceChannel(address, connections=3)
    try:
        who = channel.unary_unary("/probe.Peer/Who")
        peers = [await who(b"") for _ in range(6)]
    finally:
        await channel.close()
        await server.stop(None)
    assert len(set(peers)) == 3  # three connections, not one shared
    assert Counter(peers) == {peer: 2 for peer in set(peers)}
    assert peers[:3] == peers[3:]  # in turn


async def test_one_connection_carries_every_call() -> None:
    server, address = await _peer_echo_server()
    channel = ServiceChannel(address)
    try:
        who = channel.unary_unary("/probe.Peer/Who")
        peers = {await who(b"") for _ in range(4)}
    finally:
        await channel.close()
        await server.stop(None)
    assert len(peers) == 1
