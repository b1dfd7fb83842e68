"""InvoiceService servicer: convert, call the use case, convert."""

from __future__ import annotations

from drawdown.deadlines import Deadline
from drawdown.invoicing.v1 import invoice_service_pb2 as pb
from drawdown.invoicing.v1 import invoice_service_pb2_grpc
from drawdown.rpc.convert import money_from_proto, optional_timestamp, timestamp_to_proto
from drawdown.rpc.idempotent import Mutations
from invoicing_service.api import convert
from invoicing_service.api.pages import page
from invoicing_service.api.sagas import Sagas
from invoicing_service.domain.credit_purchases import DEFAULT_PRIORITY
from invoicing_service.domain.invoices import states_shown_as
from invoicing_service.service.balance_watches import BalanceWatches
from invoicing_service.service.billing import Billing
from invoicing_service.service.purchases import NewCreditPurchase, PurchaseUseCases
from invoicing_service.service.subscriptions import SubscriptionUseCases


class InvoiceServicer(invoice_service_pb2_grpc.InvoiceServiceServicer):
    def __init__(
        self,
        billing: Billing,
        subscriptions: SubscriptionUseCases,
        purchases: PurchaseUseCases,
        mutations: Mutations,
        sagas: Sagas,
    ) -> None:
        self._billing = billing
        self._subscriptions = subscriptions
        self._purchases = purchases
        self._mutations = mutations
        self._sagas = sagas
        self._watches = BalanceWatches(billing)

    async def CreateInvoicePreview(self, request, context):
        as_of = optional_timestamp(request, "as_of_time")
        invoice, counted_to = await self._subscriptions.preview(
            request.subscription_id, as_of, Deadline.of(context)
        )
        return pb.CreateInvoicePreviewResponse(
            invoice=convert.invoice_to_proto(invoice), as_of_time=timestamp_to_proto(counted_to)
        )

    async def GetInvoice(self, request, context):
        return pb.GetInvoiceResponse(invoice=convert.invoice_to_proto(await self._billing.get(request.id)))

    async def ListInvoices(self, request, context):
        status = convert.INVOICE_STATUSES.parse(request.status, "status")
        statuses = () if status is None else states_shown_as(status)

        async def fetch(after, limit):
            return await self._billing.list(
                customer_id=request.customer_id,
                subscription_id=request.subscription_id,
                statuses=statuses,
                after=after,
                limit=limit,
            )

        rows, token = await page(
            request, [request.customer_id, request.subscription_id, request.status], fetch
        )
        return pb.ListInvoicesResponse(
            invoices=[convert.invoice_to_proto(r) for r in rows], next_page_token=token
        )

    async def FinalizeInvoice(self, request, context):
        async with self._sagas.call() as call:
            return await call.run(
                "FinalizeInvoice",
                request,
                pb.FinalizeInvoiceResponse,
                lambda finish: call.billing.finalization.finalize(
                    request.id, deadline=Deadline.of(context), finish=finish
                ),
                lambda invoice: pb.FinalizeInvoiceResponse(invoice=convert.invoice_to_proto(invoice)),
            )

    async def VoidInvoice(self, request, context):
        async with self._sagas.call() as call:
            reply = await call.run(
                "VoidInvoice",
                request,
                pb.VoidInvoiceResponse,
                lambda finish: call.billing.settlement.void(
                    request.id, deadline=Deadline.of(context), finish=finish
                ),
                lambda invoice: pb.VoidInvoiceResponse(invoice=convert.invoice_to_proto(invoice)),
            )
        # A voided invoice gave its credits back: the balance rose.
        await self._watches.after_change(reply.invoice.customer_id, Deadline.of(context))
        return reply

    async def PayInvoice(self, request, context):
        async with self._sagas.call() as call:
            reply = await call.run(
                "PayInvoice",
                request,
                pb.PayInvoiceResponse,
                lambda finish: call.billing.settlement.pay(
                    request.id, deadline=Deadline.of(context), finish=finish
                ),
                lambda invoice: pb.PayInvoiceResponse(invoice=convert.invoice_to_proto(invoice)),
            )
        # A paid credit purchase granted its credits: the balance rose.
        await self._watches.after_change(reply.invoice.customer_id, Deadline.of(context))
        return reply

    async def MarkInvoiceUncollectible(self, request, context):
        async def work(uow):
            invoice = await self._billing.settlement.mark_uncollectible(uow, request.id)
            return pb.MarkInvoiceUncollectibleResponse(invoice=convert.invoice_to_proto(invoice))

        return await self._mutations.run(
            "MarkInvoiceUncollectible", request, pb.MarkInvoiceUncollectibleResponse, work
        )

    async def CreateCreditPurchase(self, request, context):
        new = NewCreditPurchase(
            customer_id=request.customer_id,
            amount=money_from_proto(request.amount, "amount"),
            name=request.name,
            priority=request.priority if request.HasField("priority") else DEFAULT_PRIORITY,
            price_ids=convert.purchase_price_ids_from_proto(request.applicability_config),
            expire_time=optional_timestamp(request, "expire_time"),
            metadata=dict(request.metadata),
        )

        async def work(uow):
            invoice = await self._purchases.create(uow, new)
            return pb.CreateCreditPurchaseResponse(invoice=convert.invoice_to_proto(invoice))

        return await self._mutations.run(
            "CreateCreditPurchase", request, pb.CreateCreditPurchaseResponse, work
        )
