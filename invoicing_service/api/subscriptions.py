"""SubscriptionService servicer: convert, call the use case, convert."""

from __future__ import annotations

from drawdown.deadlines import Deadline
from drawdown.invoicing.v1 import subscription_service_pb2 as pb
from drawdown.invoicing.v1 import subscription_service_pb2_grpc
from drawdown.rpc.idempotent import Mutations
from invoicing_service.api import convert
from invoicing_service.api.pages import page
from invoicing_service.service.subscriptions import SubscriptionUseCases


class SubscriptionServicer(subscription_service_pb2_grpc.SubscriptionServiceServicer):
    def __init__(self, subscriptions: SubscriptionUseCases, mutations: Mutations) -> None:
        self._subscriptions = subscriptions
        self._mutations = mutations

    async def CreateSubscription(self, request, context):
        items = convert.new_items_from_proto(request.subscription)
        grace = convert.subscription_grace_from_proto(request.subscription)

        async def work(uow):
            subscription, invoice = await self._subscriptions.create(
                uow, request.subscription.customer_id, items, grace, Deadline.of(context)
            )
            return pb.CreateSubscriptionResponse(
                subscription=convert.subscription_to_proto(subscription),
                invoice=None if invoice is None else convert.invoice_to_proto(invoice),
            )

        return await self._mutations.run("CreateSubscription", request, pb.CreateSubscriptionResponse, work)

    async def GetSubscription(self, request, context):
        return pb.GetSubscriptionResponse(
            subscription=convert.subscription_to_proto(await self._subscriptions.get(request.id))
        )

    async def ListSubscriptions(self, request, context):
        status = convert.SUBSCRIPTION_STATUSES.parse(request.status, "status")
        rows, token = await page(
            request,
            [request.customer_id, status, request.price_id],
            lambda after, limit: self._subscriptions.list(
                customer_id=request.customer_id,
                status=status,
                price_id=request.price_id,
                after=after,
                limit=limit,
            ),
        )
        return pb.ListSubscriptionsResponse(
            subscriptions=[convert.subscription_to_proto(r) for r in rows], next_page_token=token
        )

    async def CancelSubscription(self, request, context):
        async def work(uow):
            subscription, invoice = await self._subscriptions.cancel(
                uow, request.id, request.at_period_end, Deadline.of(context)
            )
            return pb.CancelSubscriptionResponse(
                subscription=convert.subscription_to_proto(subscription),
                invoice=None if invoice is None else convert.invoice_to_proto(invoice),
            )

        response = await self._mutations.run(
            "CancelSubscription", request, pb.CancelSubscriptionResponse, work
        )
        await self._subscriptions.hold_final_draft(response.invoice.id)
        return response
