"""CreditBalanceService: convert, call the use case, convert (C-20..C-22)."""

from __future__ import annotations

from credits_service.api import convert
from credits_service.service.balances import BalanceUseCases
from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2 as pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc
from drawdown.pagination import next_page, page_size
from drawdown.rpc.convert import optional_timestamp


class CreditBalanceServicer(credit_balance_service_pb2_grpc.CreditBalanceServiceServicer):
    def __init__(self, balances: BalanceUseCases) -> None:
        self._balances = balances

    async def GetCreditBalanceSummary(self, request, context):
        customer_id = convert.required(request.customer_id, "customer_id")
        selected = convert.balance_filter_from_proto(request)
        # Unset: the customer's now, its test clock's time if it has one (I-18).
        as_of = optional_timestamp(request, "as_of")
        balances = await self._balances.summary(customer_id, selected, as_of)
        return pb.GetCreditBalanceSummaryResponse(
            credit_balance_summary=balance_pb.CreditBalanceSummary(
                customer_id=customer_id, balances=[convert.balance_to_proto(b) for b in balances]
            )
        )

    async def ListCreditBalanceTransactions(self, request, context):
        customer_id = convert.required(request.customer_id, "customer_id")
        convert.optional_id(request.credit_grant_id, "credit_grant_id")
        filters = [customer_id, request.credit_grant_id]
        size = page_size(request.page_size)
        after = convert.page_after(request.page_token, filters)
        rows = await self._balances.transactions(customer_id, request.credit_grant_id, after, size + 1)
        page, token = next_page(rows, size, lambda t: [t.create_time, t.id], filters)
        return pb.ListCreditBalanceTransactionsResponse(
            credit_balance_transactions=[convert.transaction_to_proto(t) for t in page], next_page_token=token
        )

    async def GetCreditBalanceTransaction(self, request, context):
        found = await self._balances.transaction(convert.required(request.id, "id"))
        return pb.GetCreditBalanceTransactionResponse(
            credit_balance_transaction=convert.transaction_to_proto(found)
        )
