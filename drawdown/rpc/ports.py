"""Whether a server may listen on a port (O-1).

gRPC sets SO_REUSEPORT by default, which lets a second server, from another folder with
another database, listen on a port that one already serves: the kernel then splits the
calls between them. Drawdown's servers listen without it, except the processes of one
``drawdown serve`` run with ``DRAWDOWN_PROCESSES``, and check the port first, so that a
refusal is one line rather than gRPC's bind error.
"""

from __future__ import annotations

import errno
import socket


def why_not_free(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on without sharing it, or None when it can."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return f"{host} is not an address of this machine ({error.strerror})"
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # As gRPC does: sockets left in TIME_WAIT by a stopped server do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return "another process is serving that port"
                return error.strerror.lower()
    return None
