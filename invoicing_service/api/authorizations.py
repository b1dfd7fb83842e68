"""UsageAuthorizationService: convert, call the use case, convert (R-1..R-5).

AuthorizeUsage is idempotent by its request id inside the use case (the authorization's id
derives from it, so a retry also finds the reservation credits made), and a capture by the
authorization itself; neither goes through the request-id store.
"""

from __future__ import annotations

from drawdown.deadlines import Deadline
from drawdown.errors import InvalidArgument
from drawdown.invoicing.v1 import usage_authorization_pb2 as authorization_pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2 as pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc
from drawdown.pagination import decode_page_token, next_page, page_size
from drawdown.rpc.convert import (
    decimal_from_proto,
    decimal_to_proto,
    duration_from_proto,
    money_from_proto,
    money_to_proto,
    timestamp_to_proto,
)
from drawdown.rpc.enums import EnumMap
from invoicing_service.domain import reasons
from invoicing_service.domain.authorizations import (
    AuthorizationStatus,
    UsageAuthorization,
    validate_quantity,
    validate_ttl,
)
from invoicing_service.service.authorizations import UsageAsk, UsageAuthorizations

# CAPTURING is a capture under way: it shows as AUTHORIZED.
STATUSES = EnumMap(
    authorization_pb.UsageAuthorizationStatus,
    AuthorizationStatus,
    only=[s for s in AuthorizationStatus if s is not AuthorizationStatus.CAPTURING],
)


class UsageAuthorizationServicer(usage_authorization_service_pb2_grpc.UsageAuthorizationServiceServicer):
    def __init__(self, authorizations: UsageAuthorizations) -> None:
        self._authorizations = authorizations

    async def AuthorizeUsage(self, request, context):
        authorized = await self._authorizations.authorize(_ask(request), Deadline.of(context))
        return pb.AuthorizeUsageResponse(usage_authorization=authorization_to_proto(authorized))

    async def CaptureUsageAuthorization(self, request, context):
        quantity = (
            validate_quantity(decimal_from_proto(request.quantity, "quantity"), "quantity")
            if request.HasField("quantity")
            else None
        )
        captured = await self._authorizations.capture(
            _required(request.usage_authorization_id, "usage_authorization_id"),
            quantity,
            Deadline.of(context),
        )
        return pb.CaptureUsageAuthorizationResponse(usage_authorization=authorization_to_proto(captured))

    async def ReleaseUsageAuthorization(self, request, context):
        released = await self._authorizations.release(
            _required(request.usage_authorization_id, "usage_authorization_id"), Deadline.of(context)
        )
        return pb.ReleaseUsageAuthorizationResponse(usage_authorization=authorization_to_proto(released))

    async def GetUsageAuthorization(self, request, context):
        found = await self._authorizations.get(
            _required(request.usage_authorization_id, "usage_authorization_id")
        )
        return pb.GetUsageAuthorizationResponse(usage_authorization=authorization_to_proto(found))

    async def ListUsageAuthorizations(self, request, context):
        customer_id = _required(request.customer_id, "customer_id")
        status = STATUSES.parse(request.status, "status")
        filters = [customer_id, request.status]
        size = page_size(request.page_size)
        after = decode_page_token(request.page_token, filters)
        rows = await self._authorizations.list(customer_id, status, after, size + 1)
        page, token = next_page(rows, size, lambda a: [a.create_time, a.id], filters)
        return pb.ListUsageAuthorizationsResponse(
            usage_authorizations=[authorization_to_proto(a) for a in page], next_page_token=token
        )


def _required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument.for_field(field, "is required")
    return value


def _ask(request: pb.AuthorizeUsageRequest) -> UsageAsk:
    customer_id = _required(request.customer_id, "customer_id")
    if request.WhichOneof("item") is None:
        raise InvalidArgument.for_field("price_id", "price_id or meter_id is required")
    estimate = request.WhichOneof("estimate")
    if estimate is None:
        raise InvalidArgument.for_field("quantity", "quantity or amount is required")
    quantity = amount = None
    if estimate == "quantity":
        quantity = validate_quantity(decimal_from_proto(request.quantity, "quantity"), "quantity")
    else:
        amount = money_from_proto(request.amount, "amount")
        if amount.minor <= 0:
            raise InvalidArgument.for_field("amount", "must be positive", reason=reasons.INVALID_AMOUNT)
    return UsageAsk(
        customer_id=customer_id,
        price_id=request.price_id,
        meter_id=request.meter_id,
        quantity=quantity,
        amount=amount,
        ttl=validate_ttl(duration_from_proto(request.ttl, "ttl") if request.HasField("ttl") else None, "ttl"),
        request_id=request.request_id,
    )


def authorization_to_proto(authorization: UsageAuthorization) -> authorization_pb.UsageAuthorization:
    captured = authorization.status is AuthorizationStatus.CAPTURED
    message = authorization_pb.UsageAuthorization(
        id=authorization.id,
        customer_id=authorization.customer_id,
        price_id=authorization.price_id,
        meter_id=authorization.meter_id,
        status=STATUSES.to_proto(
            AuthorizationStatus.AUTHORIZED
            if authorization.status is AuthorizationStatus.CAPTURING
            else authorization.status
        ),
        authorized_amount=money_to_proto(authorization.authorized_amount),
        drawn_from=[
            authorization_pb.AuthorizationSource(credit_grant_id=grant_id, amount=money_to_proto(amount))
            for grant_id, amount in authorization.sources
        ],
        spendable_balance=money_to_proto(authorization.spendable_after),
        overage_amount=money_to_proto(authorization.overage),
        quantity_estimated=captured and authorization.quantity_estimated,
        create_time=timestamp_to_proto(authorization.create_time),
        expire_time=timestamp_to_proto(authorization.expire_time),
    )
    if authorization.authorized_quantity is not None:
        message.authorized_quantity.CopyFrom(decimal_to_proto(authorization.authorized_quantity))
    if captured:
        assert authorization.captured_quantity is not None and authorization.captured_amount is not None
        message.captured_quantity.CopyFrom(decimal_to_proto(authorization.captured_quantity))
        message.captured_amount.CopyFrom(money_to_proto(authorization.captured_amount))
    if authorization.end_time is not None and authorization.status is not AuthorizationStatus.CAPTURING:
        message.end_time.CopyFrom(timestamp_to_proto(authorization.end_time))
    return message
