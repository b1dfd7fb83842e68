"""CreditGrantService: convert, call the use case, convert (C-1..C-5)."""

from __future__ import annotations

from credits_service.api import convert
from credits_service.service.grants import GrantUseCases
from drawdown.credits.v1 import credit_grant_service_pb2 as pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc
from drawdown.pagination import next_page, page_size
from drawdown.rpc.convert import optional_timestamp
from drawdown.rpc.idempotent import Mutations


class CreditGrantServicer(credit_grant_service_pb2_grpc.CreditGrantServiceServicer):
    def __init__(self, grants: GrantUseCases, mutations: Mutations) -> None:
        self._grants = grants
        self._mutations = mutations

    async def CreateCreditGrant(self, request, context):
        convert.check_request_id(request)
        new = convert.new_grant_from_proto(request.credit_grant)

        async def work(uow):
            created = await self._grants.create(uow, new)
            return pb.CreateCreditGrantResponse(credit_grant=convert.grant_view_to_proto(created))

        return await self._mutations.run("CreateCreditGrant", request, pb.CreateCreditGrantResponse, work)

    async def GetCreditGrant(self, request, context):
        grant_id = convert.required(request.id, "id")
        found = await self._grants.get(grant_id, optional_timestamp(request, "as_of"))
        return pb.GetCreditGrantResponse(credit_grant=convert.grant_view_to_proto(found))

    async def ListCreditGrants(self, request, context):
        customer_id = convert.required(request.customer_id, "customer_id")
        status = convert.status_from_proto(request.status)
        given_as_of = optional_timestamp(request, "as_of")
        filters = [customer_id, request.status, given_as_of]
        size = page_size(request.page_size)
        after = convert.page_after(request.page_token, filters)
        rows, as_of = await self._grants.list(customer_id, status, given_as_of, after, size + 1)
        page, token = next_page(rows, size, lambda g: [g.grant.created_at, g.grant.id], filters)
        return pb.ListCreditGrantsResponse(
            credit_grants=[convert.grant_to_proto(g, as_of) for g in page], next_page_token=token
        )

    async def UpdateCreditGrant(self, request, context):
        convert.check_request_id(request)
        changes = convert.grant_changes_from_proto(request.credit_grant, request.update_mask)

        async def work(uow):
            updated = await self._grants.update(uow, changes)
            return pb.UpdateCreditGrantResponse(credit_grant=convert.grant_view_to_proto(updated))

        return await self._mutations.run("UpdateCreditGrant", request, pb.UpdateCreditGrantResponse, work)

    async def ExpireCreditGrant(self, request, context):
        convert.check_request_id(request)
        grant_id = convert.required(request.id, "id")

        async def work(uow):
            expired = await self._grants.expire(uow, grant_id)
            return pb.ExpireCreditGrantResponse(credit_grant=convert.grant_view_to_proto(expired))

        return await self._mutations.run("ExpireCreditGrant", request, pb.ExpireCreditGrantResponse, work)

    async def VoidCreditGrant(self, request, context):
        convert.check_request_id(request)
        grant_id = convert.required(request.id, "id")

        async def work(uow):
            voided = await self._grants.void(uow, grant_id)
            return pb.VoidCreditGrantResponse(credit_grant=convert.grant_view_to_proto(voided))

        return await self._mutations.run("VoidCreditGrant", request, pb.VoidCreditGrantResponse, work)
