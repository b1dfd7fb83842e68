"""InvoiceCreditService: convert, call the use case, convert (C-10..C-15).

Every mutation runs once per request id here, at the edge (``Mutations``); the use cases
take the invoices and the repositories on the call's transaction (the unit of work, or
the raw transaction of the hot paths, with an outbox for their events).
"""

from __future__ import annotations

from collections.abc import Sequence

from credits_service.api import convert
from credits_service.domain.drawdown import Invoice
from credits_service.service.invoices import (
    BatchItem,
    InvoiceCreditUseCases,
    ensure_batch_size,
    ensure_distinct_invoices,
)
from credits_service.store.holds import StoredAllocation
from credits_service.store.unit import CreditRepositories
from drawdown.credits.v1 import invoice_credit_service_pb2 as pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc
from drawdown.db.engine import Database
from drawdown.errors import AlreadyExists
from drawdown.rpc.convert import optional_timestamp
from drawdown.rpc.idempotent import BatchEntry, Mutations


class InvoiceCreditServicer(invoice_credit_service_pb2_grpc.InvoiceCreditServiceServicer):
    """Times left unset (``as_of``) mean the customer's now: its test clock's time when it
    lives on one, else the wall clock's (I-18); the use cases resolve them."""

    def __init__(self, invoices: InvoiceCreditUseCases, mutations: Mutations, database: Database) -> None:
        self._invoices = invoices
        self._mutations = mutations
        self._database = database

    async def HoldInvoiceCredits(self, request, context):
        convert.check_request_id(request)
        invoice = convert.invoice_from_proto(request.invoice, "invoice")

        async def work(tx):
            return _held(await self._invoices.hold(CreditRepositories.recording(tx, self._database), invoice))

        return await self._mutations.run_raw(
            "HoldInvoiceCredits", request, pb.HoldInvoiceCreditsResponse, work
        )

    async def ApplyInvoiceCredits(self, request, context):
        convert.check_request_id(request)
        invoice = convert.invoice_from_proto(request.invoice, "invoice")

        async def work(tx):
            return _applied(
                await self._invoices.apply(CreditRepositories.recording(tx, self._database), invoice)
            )

        try:
            return await self._mutations.run_raw(
                "ApplyInvoiceCredits", request, pb.ApplyInvoiceCreditsResponse, work
            )
        except AlreadyExists as reused:
            return _applied(await self._invoices.applied_despite_reuse(invoice.id, reused))

    async def BatchHoldInvoiceCredits(self, request, context):
        ensure_batch_size(len(request.requests))
        invoices = convert.invoices_of_batch(request.requests)
        ensure_distinct_invoices(invoices)

        async def work(tx, entries):
            held = await self._invoices.hold_batch(
                CreditRepositories.recording(tx, self._database), _items(entries, invoices)
            )
            return [_held(allocation) for allocation in held]

        responses = await self._mutations.run_batch(
            "HoldInvoiceCredits", request.requests, pb.HoldInvoiceCreditsResponse, work
        )
        return pb.BatchHoldInvoiceCreditsResponse(responses=responses)

    async def BatchApplyInvoiceCredits(self, request, context):
        ensure_batch_size(len(request.requests))
        invoices = convert.invoices_of_batch(request.requests)
        ensure_distinct_invoices(invoices)

        async def work(tx, entries):
            applied = await self._invoices.apply_batch(
                CreditRepositories.recording(tx, self._database), _items(entries, invoices)
            )
            return [_applied(allocation) for allocation in applied]

        responses = await self._mutations.run_batch(
            "ApplyInvoiceCredits", request.requests, pb.ApplyInvoiceCreditsResponse, work
        )
        return pb.BatchApplyInvoiceCreditsResponse(responses=responses)

    async def ReleaseInvoiceCredits(self, request, context):
        convert.check_request_id(request)
        invoice_id = convert.required(request.invoice_id, "invoice_id")
        customer_id = convert.required(request.customer_id, "customer_id")

        async def work(uow):
            released = await self._invoices.release(uow, invoice_id, customer_id)
            return pb.ReleaseInvoiceCreditsResponse(
                released_allocation=convert.allocation_to_proto(released, invoice_id)
            )

        return await self._mutations.run(
            "ReleaseInvoiceCredits", request, pb.ReleaseInvoiceCreditsResponse, work
        )

    async def ReinstateInvoiceCredits(self, request, context):
        convert.check_request_id(request)
        invoice_id = convert.required(request.invoice_id, "invoice_id")
        customer_id = convert.required(request.customer_id, "customer_id")
        as_of = optional_timestamp(request, "as_of")

        async def work(uow):
            posted = await self._invoices.reinstate(uow, invoice_id, customer_id, as_of)
            return pb.ReinstateInvoiceCreditsResponse(
                credit_balance_transactions=[convert.transaction_to_proto(t) for t in posted]
            )

        return await self._mutations.run(
            "ReinstateInvoiceCredits", request, pb.ReinstateInvoiceCreditsResponse, work
        )

    async def PreviewInvoiceCredits(self, request, context):
        invoice = convert.invoice_from_proto(request.invoice, "invoice", id_required=False)
        previewed = await self._invoices.preview(invoice)
        return pb.PreviewInvoiceCreditsResponse(credit_allocation=convert.allocation_to_proto(previewed))

    async def ExpireDueCreditGrants(self, request, context):
        convert.check_request_id(request)
        as_of = convert.required_timestamp(request, "as_of")
        only = convert.customer_ids(request.customer_ids, "customer_ids")
        excluding = convert.customer_ids(request.exclude_customer_ids, "exclude_customer_ids")

        async def work(uow):
            sweep = await self._invoices.expire_due(uow, as_of, only, excluding)
            return pb.ExpireDueCreditGrantsResponse(
                expired_grant_count=sweep.expired_grants, transaction_count=sweep.transactions
            )

        return await self._mutations.run(
            "ExpireDueCreditGrants", request, pb.ExpireDueCreditGrantsResponse, work
        )


def _items(
    entries: Sequence[BatchEntry[pb.HoldInvoiceCreditsRequest | pb.ApplyInvoiceCreditsRequest]],
    invoices: Sequence[Invoice],
) -> list[BatchItem]:
    """The batch's entries that are not replays, with their invoices and request ids."""
    return [
        BatchItem(entry.index, invoices[entry.index], entry.request.request_id, entry.reused)
        for entry in entries
    ]


def _held(allocation: StoredAllocation) -> pb.HoldInvoiceCreditsResponse:
    return pb.HoldInvoiceCreditsResponse(credit_allocation=convert.allocation_to_proto(allocation))


def _applied(allocation: StoredAllocation) -> pb.ApplyInvoiceCreditsResponse:
    return pb.ApplyInvoiceCreditsResponse(credit_allocation=convert.allocation_to_proto(allocation))
