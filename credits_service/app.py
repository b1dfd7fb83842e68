"""The credits service: credit grants, the ledger, balances, draw-down."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import grpc

from credits_service.api.balances import CreditBalanceServicer
from credits_service.api.convert import EVENT_DATA
from credits_service.api.grants import CreditGrantServicer
from credits_service.api.invoices import InvoiceCreditServicer
from credits_service.api.reservations import CreditReservationServicer
from credits_service.api.test_clocks import TestClockTimeServicer
from credits_service.service.balances import BalanceUseCases
from credits_service.service.grants import GrantUseCases
from credits_service.service.invoices import InvoiceCreditUseCases
from credits_service.service.reservations import ReservationUseCases
from credits_service.service.test_clocks import TestClockUseCases
from credits_service.store.schema import EVENT_TABLES, MIGRATIONS, idempotency_keys
from credits_service.store.unit import CreditsUnit
from drawdown.credits.v1 import (
    credit_balance_service_pb2,
    credit_balance_service_pb2_grpc,
    credit_grant_service_pb2,
    credit_grant_service_pb2_grpc,
    credit_reservation_service_pb2,
    credit_reservation_service_pb2_grpc,
    event_service_pb2,
    event_service_pb2_grpc,
    invoice_credit_service_pb2,
    invoice_credit_service_pb2_grpc,
    test_clock_time_service_pb2,
    test_clock_time_service_pb2_grpc,
)
from drawdown.db.idempotency import IdempotencyStore
from drawdown.db.retention import REQUEST_ID_RETENTION, prune_in_background
from drawdown.events.serving import serve_events
from drawdown.rpc.idempotent import Mutations
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition

# The operations that move credits: their request ids are kept with the ledger (O-6), so a
# retry however late posts nothing twice; the others' are forgotten after 30 days.
MONEY_MOVEMENTS = frozenset(
    {
        "CreateCreditGrant",
        "ApplyInvoiceCredits",
        "ReinstateInvoiceCredits",
        "VoidCreditGrant",
        "ExpireCreditGrant",
        "ExpireDueCreditGrants",
    }
)


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    events_service, _, _ = serve_events(
        server, context, EVENT_TABLES, EVENT_DATA, event_service_pb2, event_service_pb2_grpc
    )
    idempotency = IdempotencyStore(idempotency_keys)
    mutations = Mutations(context.database, idempotency, context.clock)
    prune_in_background(
        context,
        "credits request ids",
        partial(idempotency.prune, context.database, keep=MONEY_MOVEMENTS),
        REQUEST_ID_RETENTION,
    )
    credit_grant_service_pb2_grpc.add_CreditGrantServiceServicer_to_server(
        CreditGrantServicer(GrantUseCases(context.database, context.clock), mutations), server
    )
    credit_balance_service_pb2_grpc.add_CreditBalanceServiceServicer_to_server(
        CreditBalanceServicer(BalanceUseCases(context.database, context.clock)), server
    )
    invoice_credit_service_pb2_grpc.add_InvoiceCreditServiceServicer_to_server(
        InvoiceCreditServicer(
            InvoiceCreditUseCases(context.database, context.clock), mutations, context.database
        ),
        server,
    )
    credit_reservation_service_pb2_grpc.add_CreditReservationServiceServicer_to_server(
        CreditReservationServicer(
            ReservationUseCases(context.database, context.clock), mutations, context.database
        ),
        server,
    )
    test_clock_time_service_pb2_grpc.add_TestClockTimeServiceServicer_to_server(
        TestClockTimeServicer(TestClockUseCases(context.clock), mutations), server
    )
    return [
        service_full_name(credit_grant_service_pb2, "CreditGrantService"),
        service_full_name(credit_balance_service_pb2, "CreditBalanceService"),
        service_full_name(invoice_credit_service_pb2, "InvoiceCreditService"),
        service_full_name(credit_reservation_service_pb2, "CreditReservationService"),
        service_full_name(test_clock_time_service_pb2, "TestClockTimeService"),
        events_service,
    ]


DEFINITION = ServiceDefinition(
    name="credits", migrations=[MIGRATIONS], register=register, unit_of_work=CreditsUnit
)
