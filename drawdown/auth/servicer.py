"""The ApiKeyService servicer (O-3), served by every service over the shared key store."""

from __future__ import annotations

from datetime import timedelta

import grpc

from drawdown import pagination
from drawdown.auth import store
from drawdown.auth.lifecycle import ApiKeys
from drawdown.auth.roles import Role
from drawdown.auth.v1 import api_key_pb2 as key_pb
from drawdown.auth.v1 import api_key_service_pb2 as pb
from drawdown.auth.v1 import api_key_service_pb2_grpc
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.db.idempotency import IdempotencyStore
from drawdown.errors import InvalidArgument
from drawdown.rpc.convert import optional_timestamp, timestamp_to_proto
from drawdown.rpc.enums import EnumMap
from drawdown.rpc.idempotent import Mutations, ResponseT

ROLES = EnumMap(key_pb.ApiKeyRole, Role)


def api_key_to_proto(key: store.ApiKey) -> key_pb.ApiKey:
    return key_pb.ApiKey(
        id=key.id,
        role=ROLES.to_proto(key.role),
        label=key.label,
        create_time=timestamp_to_proto(key.created_at),
        expire_time=timestamp_to_proto(key.expire_at),
        revoke_time=timestamp_to_proto(key.revoked_at),
        last_use_time=timestamp_to_proto(key.last_used_at),
    )


def _required_role(value: int) -> Role:
    role = ROLES.parse(value, "role")
    if role is None:
        raise InvalidArgument.for_field("role", "is required")
    return role


def _overlap(request: pb.RotateApiKeyRequest) -> timedelta:
    return request.overlap.ToTimedelta() if request.HasField("overlap") else timedelta(0)


class ApiKeyServicer(api_key_service_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, database: Database, keys: ApiKeys, mutations: Mutations) -> None:
        self._database = database
        self._keys = keys
        self._mutations = mutations

    async def CreateApiKey(self, request, context):
        role = _required_role(request.role)
        expire_at = optional_timestamp(request, "expire_time")

        async def work(uow):
            created = await self._keys.create(uow.session, role, request.label, expire_at)
            return pb.CreateApiKeyResponse(api_key=api_key_to_proto(created.key), token=created.token)

        return await self._mutations.run(
            "CreateApiKey", request, pb.CreateApiKeyResponse, work, replayed_as=_without_token
        )

    async def ListApiKeys(self, request, context):
        size = pagination.page_size(request.page_size)
        before = pagination.decode_page_token(request.page_token)
        async with self._database.unit_of_work() as uow:
            rows = await self._keys.list(uow.session, tuple(before) if before else None, size + 1)
        page, token = pagination.next_page(list(rows), size, lambda key: [key.created_at, key.id])
        return pb.ListApiKeysResponse(api_keys=[api_key_to_proto(key) for key in page], next_page_token=token)

    async def RevokeApiKey(self, request, context):
        async def work(uow):
            revoked = await self._keys.revoke(uow.session, request.id)
            return pb.RevokeApiKeyResponse(api_key=api_key_to_proto(revoked))

        return await self._mutations.run("RevokeApiKey", request, pb.RevokeApiKeyResponse, work)

    async def RotateApiKey(self, request, context):
        overlap = _overlap(request)
        expire_at = optional_timestamp(request, "expire_time")

        async def work(uow):
            rotation = await self._keys.rotate(uow.session, request.id, overlap, expire_at)
            return pb.RotateApiKeyResponse(
                api_key=api_key_to_proto(rotation.new.key),
                token=rotation.new.token,
                rotated_api_key=api_key_to_proto(rotation.rotated),
            )

        return await self._mutations.run(
            "RotateApiKey", request, pb.RotateApiKeyResponse, work, replayed_as=_without_token
        )


def _without_token(response: ResponseT) -> ResponseT:
    """What a retry gets: the response without the token, which is never stored."""
    kept = type(response)()
    kept.CopyFrom(response)
    kept.ClearField("token")
    return kept


def add_api_key_service(server: grpc.aio.Server, database: Database, clock: Clock) -> str:
    """Serve ApiKeyService on ``server``; returns its full name (for reflection and health)."""
    mutations = Mutations(database, IdempotencyStore(store.idempotency_keys), clock)
    servicer = ApiKeyServicer(database, ApiKeys(clock), mutations)
    api_key_service_pb2_grpc.add_ApiKeyServiceServicer_to_server(servicer, server)
    return pb.DESCRIPTOR.services_by_name["ApiKeyService"].full_name
