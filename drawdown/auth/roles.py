"""Roles of API keys and the permissions each grants.

RPCs declare the permission they need in the contracts (``drawdown.type.v1.access``); a
key may call an RPC when its role grants that permission.
"""

from __future__ import annotations

import enum

from drawdown.type.v1 import access_pb2


class Role(enum.StrEnum):
    ADMIN = "admin"  # everything but the calls services make on each other
    INGEST = "ingest"  # send and cancel meter events (app servers)
    READ = "read"  # read-only dashboards and operators
    SERVICE = "service"  # Drawdown services calling each other


Permission = int  # a drawdown.type.v1.Permission value

_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            access_pb2.PERMISSION_READ,
            access_pb2.PERMISSION_INGEST,
            access_pb2.PERMISSION_WRITE,
        }
    ),
    Role.INGEST: frozenset({access_pb2.PERMISSION_INGEST}),
    Role.READ: frozenset({access_pb2.PERMISSION_READ}),
    # INGEST: invoicing records the usage of captured authorizations.
    Role.SERVICE: frozenset(
        {access_pb2.PERMISSION_READ, access_pb2.PERMISSION_INGEST, access_pb2.PERMISSION_SERVICE}
    ),
}


def role_allows(role: Role, permissions: Permission | frozenset[Permission]) -> bool:
    """Whether a key of ``role`` may call an RPC that accepts any of ``permissions``.

    An RPC that declares no permission (PERMISSION_UNSPECIFIED) is for admins only. Admin
    keys may call everything but RPCs meant for one service calling another (SERVICE
    alone, e.g. InvoiceCreditService): an operator's key must never draw a grant down for
    an invoice that invoicing does not have (X-9).
    """
    accepted = permissions if isinstance(permissions, frozenset) else frozenset({permissions})
    if role is Role.ADMIN and accepted != {access_pb2.PERMISSION_SERVICE}:
        return True
    return not accepted.isdisjoint(_GRANTS[role])
