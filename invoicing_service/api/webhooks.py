"""WebhookEndpointService servicer (E-4): convert, call the use case, convert."""

from __future__ import annotations

from drawdown.invoicing.v1 import webhook_endpoint_pb2 as messages
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2 as pb
from drawdown.invoicing.v1 import webhook_endpoint_service_pb2_grpc
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.rpc.enums import EnumMap
from drawdown.rpc.idempotent import Mutations
from invoicing_service.api.pages import page
from invoicing_service.domain.webhooks import Delivery, DeliveryStatus, EndpointStatus, WebhookEndpoint
from invoicing_service.service.webhooks import EndpointChanges, EndpointDraft, WebhookUseCases

ENDPOINT_STATUSES = EnumMap(messages.WebhookEndpointStatus, EndpointStatus)
DELIVERY_STATUSES = EnumMap(messages.WebhookDeliveryStatus, DeliveryStatus)


def endpoint_to_proto(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> messages.WebhookEndpoint:
    return messages.WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        description=endpoint.description,
        status=ENDPOINT_STATUSES.to_proto(endpoint.status),
        secret=endpoint.secret if with_secret else "",
        disabled_reason=endpoint.disabled_reason,
        create_time=timestamp_to_proto(endpoint.create_time),
        update_time=timestamp_to_proto(endpoint.update_time),
    )


def delivery_to_proto(delivery: Delivery) -> messages.WebhookDelivery:
    return messages.WebhookDelivery(
        id=delivery.id,
        webhook_endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=DELIVERY_STATUSES.to_proto(delivery.status),
        attempts=[
            messages.WebhookDeliveryAttempt(
                attempt_time=timestamp_to_proto(a.attempt_time),
                http_status=a.http_status,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in delivery.attempts
        ],
        next_attempt_time=timestamp_to_proto(delivery.next_attempt_time),
        create_time=timestamp_to_proto(delivery.create_time),
    )


class WebhookEndpointServicer(webhook_endpoint_service_pb2_grpc.WebhookEndpointServiceServicer):
    def __init__(self, webhooks: WebhookUseCases, mutations: Mutations) -> None:
        self._webhooks = webhooks
        self._mutations = mutations

    async def CreateWebhookEndpoint(self, request, context):
        given = request.webhook_endpoint
        draft = EndpointDraft(
            url=given.url, event_types=list(given.event_types), description=given.description
        )

        async def work(uow):
            endpoint = await self._webhooks.create(uow, draft)
            return pb.CreateWebhookEndpointResponse(
                webhook_endpoint=endpoint_to_proto(endpoint, with_secret=True)
            )

        return await self._mutations.run(
            "CreateWebhookEndpoint", request, pb.CreateWebhookEndpointResponse, work
        )

    async def GetWebhookEndpoint(self, request, context):
        endpoint = await self._webhooks.get(request.id)
        return pb.GetWebhookEndpointResponse(webhook_endpoint=endpoint_to_proto(endpoint))

    async def ListWebhookEndpoints(self, request, context):
        rows, token = await page(request, [], self._webhooks.list)
        return pb.ListWebhookEndpointsResponse(
            webhook_endpoints=[endpoint_to_proto(row) for row in rows], next_page_token=token
        )

    async def UpdateWebhookEndpoint(self, request, context):
        given = request.webhook_endpoint
        paths = list(request.update_mask.paths)
        changes = EndpointChanges(
            endpoint_id=given.id,
            paths=paths,
            url=given.url,
            event_types=list(given.event_types),
            description=given.description,
            status=ENDPOINT_STATUSES.parse(given.status, "webhook_endpoint.status"),
        )

        async def work(uow):
            endpoint = await self._webhooks.update(uow, changes)
            return pb.UpdateWebhookEndpointResponse(webhook_endpoint=endpoint_to_proto(endpoint))

        return await self._mutations.run(
            "UpdateWebhookEndpoint", request, pb.UpdateWebhookEndpointResponse, work
        )

    async def DeleteWebhookEndpoint(self, request, context):
        async def work(uow):
            await self._webhooks.delete(uow, request.id)
            return pb.DeleteWebhookEndpointResponse()

        return await self._mutations.run(
            "DeleteWebhookEndpoint", request, pb.DeleteWebhookEndpointResponse, work
        )

    async def RollWebhookEndpointSecret(self, request, context):
        async def work(uow):
            endpoint = await self._webhooks.roll_secret(uow, request.id)
            return pb.RollWebhookEndpointSecretResponse(
                webhook_endpoint=endpoint_to_proto(endpoint, with_secret=True)
            )

        return await self._mutations.run(
            "RollWebhookEndpointSecret", request, pb.RollWebhookEndpointSecretResponse, work
        )

    async def ListWebhookDeliveries(self, request, context):
        rows, token = await page(
            request,
            [request.webhook_endpoint_id, request.event_id],
            lambda after, limit: self._webhooks.list_deliveries(
                request.webhook_endpoint_id, request.event_id, after, limit
            ),
        )
        return pb.ListWebhookDeliveriesResponse(
            webhook_deliveries=[delivery_to_proto(row) for row in rows], next_page_token=token
        )

    async def ResendWebhookEvent(self, request, context):
        async def work(uow):
            delivery = await self._webhooks.resend(uow, request.webhook_endpoint_id, request.event_id)
            return pb.ResendWebhookEventResponse(webhook_delivery=delivery_to_proto(delivery))

        return await self._mutations.run("ResendWebhookEvent", request, pb.ResendWebhookEventResponse, work)
