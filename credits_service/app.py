"""The credits service: credit grants, the ledger, balances, draw-down."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from credits_service.store.schema import MIGRATIONS
from drawdown.credits.v1 import credit_balance_service_pb2, credit_balance_service_pb2_grpc
from drawdown.credits.v1 import credit_grant_service_pb2, credit_grant_service_pb2_grpc
from drawdown.credits.v1 import invoice_credit_service_pb2, invoice_credit_service_pb2_grpc
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    credit_grant_service_pb2_grpc.add_CreditGrantServiceServicer_to_server(
        credit_grant_service_pb2_grpc.CreditGrantServiceServicer(), server
    )
    credit_balance_service_pb2_grpc.add_CreditBalanceServiceServicer_to_server(
        credit_balance_service_pb2_grpc.CreditBalanceServiceServicer(), server
    )
    invoice_credit_service_pb2_grpc.add_InvoiceCreditServiceServicer_to_server(
        invoice_credit_service_pb2_grpc.InvoiceCreditServiceServicer(), server
    )
    return [
        service_full_name(credit_grant_service_pb2, "CreditGrantService"),
        service_full_name(credit_balance_service_pb2, "CreditBalanceService"),
        service_full_name(invoice_credit_service_pb2, "InvoiceCreditService"),
    ]


DEFINITION = ServiceDefinition(name="credits", migrations=[MIGRATIONS], register=register)
